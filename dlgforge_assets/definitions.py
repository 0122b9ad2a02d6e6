"""The one Definitions root: the graph for the config at `DLGFORGE_CONFIG` (default ./config.yaml).

Used by `dagster dev`, `dagster asset materialize -m dlgforge_assets.definitions`, `dg` and
the workspace; `dlgforge run` builds the same graph with `build_definitions`.
"""

from dlgforge_assets.build import build_definitions
from dlgforge_assets.project import config_path_from_env

defs = build_definitions(config_path_from_env())
