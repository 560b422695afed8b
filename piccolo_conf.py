"""Piccolo's configuration: one engine for the whole app.

The connection string is set at start-up by `app.db.configure()` (it may point at the embedded
PostgreSQL, which is started only then), so the engine is created without one here.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(config={}, log_queries=False)

APP_REGISTRY = AppRegistry(apps=["app.piccolo_app"])
