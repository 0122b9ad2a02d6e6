"""Issue 4: code files are chunked at function boundaries; no function is split."""

import ast
import re
from pathlib import Path

from dlgforge_core.kb.code_chunks import chunk_code
from dlgforge_core.kb.ingest import extract_pieces

DATA = Path(__file__).parent / "data" / "knowledge"


def _python_source() -> str:
    parts = ['"""Generated module."""\n\nimport math\n']
    for i in range(12):
        parts.append(f'def helper_{i}(x):\n    """Helper {i} doubles then adds {i}."""\n'
                     f'    y = x * 2\n    return y + {i}\n')
    methods = "".join(f'    def method_{i}(self, v):\n        """Method {i} docstring."""\n'
                      f'        return v * {i} + self.base\n\n' for i in range(8))
    parts.append(f'class Calculator:\n    """Computes things."""\n\n    base = 3\n\n{methods}')
    body = "".join(f"    total += math.sqrt({i}) * {i}\n" for i in range(40))
    parts.append(f'def huge():\n    """Much longer than one chunk."""\n    total = 0\n{body}'
                 f'    return total\n')
    return "\n\n".join(parts)


def _containing(pieces, text):
    return [p for p in pieces if text in p.text]


def test_python_functions_and_methods_are_never_split():
    source = _python_source()
    pieces = chunk_code(source, "python", 300)
    functions = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)]
    assert len(functions) == 12 + 8 + 1
    for node in functions:
        segment = ast.get_source_segment(source, node)
        assert len(_containing(pieces, segment)) == 1, node.name
    assert len(pieces) > 5  # really chunked, not one big piece


def test_docstrings_stay_with_their_function_and_big_classes_split_at_methods():
    pieces = chunk_code(_python_source(), "python", 300)
    holder = _containing(pieces, "def helper_4(x):")[0]
    assert '"""Helper 4 doubles then adds 4."""' in holder.text
    class_pieces = [p for p in pieces if p.heading == "class Calculator"]
    assert len(class_pieces) >= 2
    assert class_pieces[0].text.startswith("class Calculator:")
    assert '"""Computes things."""' in class_pieces[0].text
    assert all("def method_" in p.text for p in class_pieces)
    huge = _containing(pieces, "def huge():")[0]
    assert len(huge.text) > 300 and "return total" in huge.text  # oversized, kept whole


def _go_functions(text: str) -> list[str]:
    return re.findall(r"^func .*?^}$", text, flags=re.S | re.M)


def test_go_and_typescript_files_split_at_function_boundaries():
    go_text = (DATA / "server" / "health.go").read_text()
    go_pieces = extract_pieces(DATA / "server" / "health.go", "server/health.go", 320, 50)
    assert len(go_pieces) >= 2
    functions = _go_functions(go_text)
    assert len(functions) == 2
    for function in functions:
        holders = _containing(go_pieces, function)
        assert len(holders) == 1
        assert "// " in holders[0].text.split("func ")[0]  # the doc comment came along
    ts_path = DATA / "web" / "client.ts"
    ts_pieces = extract_pieces(ts_path, "web/client.ts", 300, 50)
    assert len(ts_pieces) >= 3
    for method in ("async revoke(shareId: string)", "async downloadCount(shareId: string)"):
        holder = _containing(ts_pieces, method)[0]
        start = holder.text.index(method)
        assert holder.text[start:].count("{") <= holder.text[start:].count("}")
        assert holder.heading == "class ShareClient"
    assert _containing(ts_pieces, "Revoke a share link")[0] is _containing(ts_pieces, "async revoke")[0]


def test_javascript_without_classes():
    js = "// a\nfunction a() {\n  return 1;\n}\n\n// b\nconst b = () => {\n  return 2;\n};\n"
    pieces = chunk_code(js, "javascript", 30)
    assert [p.text for p in pieces] == ["// a\nfunction a() {\n  return 1;\n}",
                                        "// b\nconst b = () => {\n  return 2;\n};"]
