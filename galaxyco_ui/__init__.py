"""GalaxyCo: a multi-tenant AI automation platform built on Reflex."""
