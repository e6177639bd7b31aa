"""Settings: defaults for the embedded mode, and refusing unsafe production settings."""

import stat

import pytest

from galaxyco_ui.config import InsecureSecretKeyError, Settings, check_startup_settings


def test_the_embedded_default_is_a_sqlite_file_under_the_data_directory(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="", redis_url="")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'galaxyco.db'}"
    assert settings.is_sqlite


@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
def test_postgres_urls_use_the_psycopg_driver(scheme):
    settings = Settings(database_url=f"{scheme}u:p@db:5432/galaxy")
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db:5432/galaxy"


def test_development_generates_a_private_secret_key_once(tmp_path):
    settings = Settings(galaxyco_env="development", data_dir=tmp_path, secret_key="")
    first = settings.secret_key_value()
    assert len(first) >= 32
    assert settings.secret_key_value() == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    settings = Settings(galaxyco_env="production", data_dir=tmp_path, secret_key="")
    with pytest.raises(InsecureSecretKeyError, match="must be set"):
        check_startup_settings(settings)
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_a_short_secret_key(tmp_path):
    settings = Settings(galaxyco_env="production", data_dir=tmp_path, secret_key="too-short")
    with pytest.raises(InsecureSecretKeyError, match="at least 32"):
        check_startup_settings(settings)


def test_production_accepts_a_strong_secret_key(tmp_path):
    check_startup_settings(Settings(galaxyco_env="production", data_dir=tmp_path, secret_key="x" * 48))


def test_sign_in_buttons_show_only_for_configured_providers():
    assert Settings(google_client_id="", github_client_id="", oidc_issuer="").oauth_providers() == {}
    settings = Settings(
        github_client_id="gh", oidc_issuer="https://idp.example", oidc_client_id="c", oidc_name="Okta"
    )
    assert settings.oauth_providers() == {"github": "GitHub", "oidc": "Okta"}


def test_https_public_urls_make_cookies_secure():
    assert Settings(public_url="https://galaxy.example.com").cookie_secure
    assert not Settings(public_url="http://localhost:3000").cookie_secure
