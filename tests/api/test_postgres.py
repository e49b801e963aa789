"""The same admin API with the state in PostgreSQL (`--database`), on a fresh
database per run. Skipped only when PORTHOLE_TEST_POSTGRES_URL is unset and
PORTHOLE_TEST_REQUIRE_POSTGRES is not 1 (scripts/test sets both)."""

import os
import subprocess
import unittest
import uuid
from urllib.parse import urlsplit, urlunsplit

from harness import ServerTestCase
from test_cli_lifecycle import run_short_lifecycle

ADMIN_URL = os.environ.get("PORTHOLE_TEST_POSTGRES_URL")
REQUIRED = os.environ.get("PORTHOLE_TEST_REQUIRE_POSTGRES") == "1"


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                   check=True, capture_output=True, text=True, timeout=30)


@unittest.skipUnless(ADMIN_URL or REQUIRED, "PORTHOLE_TEST_POSTGRES_URL is not set")
class PostgresLifecycle(ServerTestCase):
    @classmethod
    def database_url(cls):
        if not ADMIN_URL:
            raise AssertionError("PORTHOLE_TEST_REQUIRE_POSTGRES=1 but PORTHOLE_TEST_POSTGRES_URL is unset")
        cls.db_name = f"porthole_api_{uuid.uuid4().hex[:12]}"
        psql(ADMIN_URL, f"CREATE DATABASE {cls.db_name}")
        parts = urlsplit(ADMIN_URL)
        return urlunsplit(parts._replace(path="/" + cls.db_name))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            psql(ADMIN_URL, f"DROP DATABASE IF EXISTS {cls.db_name}")

    def test_lifecycle_on_postgres(self):
        run_short_lifecycle(self, self.server, fleet="pg-fleet", stack="pg-stack")
        # The rows are really in this database (not a silent SQLite fallback).
        self.assertFalse(any(p.name.endswith((".db", ".sqlite", ".sqlite3"))
                             for p in self.server.data_dir.iterdir()),
                         list(self.server.data_dir.iterdir()))

    def test_state_is_read_back_from_postgres(self):
        self.server.api("create_stack", Name="pg-kept", DisplayName="in postgres")
        self.server.stop()
        self.server.start()
        stack = self.server.api("describe_stacks", Names=["pg-kept"])["Stacks"][0]
        self.assertEqual(stack["DisplayName"], "in postgres")
        self.server.api("delete_stack", Name="pg-kept")


if __name__ == "__main__":
    unittest.main()
