"""Chunking: Markdown headings first, then size with overlap; content-hash ids."""

from dlgforge_core.kb.chunking import chunk_markdown, split_by_size, to_chunks

DOC = """# Manual

Intro line.

## Setup

### Linux

Install it.

## Usage

```python
# not a heading inside a fence
print("hi")
```
"""


def test_markdown_is_split_on_headings_with_trails():
    pieces = chunk_markdown(DOC, 800, 100)
    assert [p.heading for p in pieces] == ["Manual", "Manual > Setup > Linux", "Manual > Usage"]
    assert "# not a heading inside a fence" in pieces[2].text


def test_size_split_respects_size_and_overlaps():
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    parts = split_by_size(text, 200, 40)
    assert len(parts) > 5 and all(len(p) <= 200 for p in parts)
    for left, right in zip(parts, parts[1:]):
        assert right.split()[0] in left  # the next part starts inside the previous one
    assert " ".join(parts).count("Sentence number 59 is here.") >= 1
    assert split_by_size(text, 200, 0)[1].startswith("Sentence")


def test_chunk_ids_depend_on_content_not_source_or_whitespace():
    pieces = chunk_markdown(DOC, 800, 100)
    a = to_chunks(pieces, "a.md", "h1")
    b = to_chunks(chunk_markdown(DOC.replace("Install it.", "Install   it."), 800, 100),
                  "moved/b.md", "h2")
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert [c.position for c in a] == [0, 1, 2] and a[1].source == "a.md"
    edited = to_chunks(chunk_markdown(DOC.replace("Install it.", "Build it."), 800, 100),
                       "a.md", "h3")
    assert [c.chunk_id for c in edited] != [c.chunk_id for c in a]
    assert edited[0].chunk_id == a[0].chunk_id and edited[2].chunk_id == a[2].chunk_id


def test_repeated_text_in_one_document_gets_distinct_ids():
    chunks = to_chunks(chunk_markdown("# A\n\nsame\n\n# A\n\nsame\n", 800, 0), "x.md", "h")
    assert len(chunks) == 2 and chunks[0].chunk_id != chunks[1].chunk_id
