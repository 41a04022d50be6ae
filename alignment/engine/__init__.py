"""The engine the activity aggregation runs in: DuckDB in this process by default, Spark or a warehouse.

- :mod:`~alignment.engine.backends`: the ``[engine]`` config section as an Ibis connection;
- :mod:`~alignment.engine.activities`: the activities as a table of that engine (:class:`ActivityTable`);
- :mod:`~alignment.engine.point_in_time`: the point-in-time activity features, written once as Ibis
  expressions and run by whichever engine is configured;
- :mod:`~alignment.engine.sql`: the signed scale as one SQL ``SELECT`` (``alignment sql``).

See ``docs/scale.md`` for what runs where.
"""

from alignment.engine.activities import ActivityTable, activity_table, read_activities
from alignment.engine.backends import connect, default_engine
from alignment.engine.point_in_time import activity_features

__all__ = ["ActivityTable", "activity_features", "activity_table", "connect", "default_engine",
           "read_activities"]
