"""LanceDB imported without its REST client's API classes, and still fully usable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_index_works_and_the_rest_api_classes_are_never_built(tmp_path):
    out = _run(f"""
        import sys
        from pathlib import Path
        from dlgforge_core.kb.index import ChunkIndex
        index = ChunkIndex(Path({str(tmp_path / "index")!r}))
        print(index.exists(), "lance_namespace_urllib3_client.api" in sys.modules)
        import pyarrow as pa
        db = index._db
        table = db.create_table("probe", pa.table({{"a": [1, 2], "v": pa.array(
            [[0.1, 0.2], [0.9, 0.1]], pa.list_(pa.float32(), 2))}}))
        print(table.search([0.9, 0.1]).limit(1).to_list()[0]["a"], table.count_rows())
    """)
    assert out == ["False", "False", "2", "2"]


def test_the_rest_client_package_still_loads_when_asked_for():
    out = _run("""
        from dlgforge_core.kb.lancedb_import import import_lancedb
        import_lancedb()
        import lance_namespace_urllib3_client as client
        print(client.ApiClient.__name__, hasattr(client, "TableApi"))
    """)
    assert out == ["ApiClient", "True"]
