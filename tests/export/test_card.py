"""Issue 6, test 2: the card's front matter parses and names the data's languages and files;
the plots are real SVG files the card shows."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import yaml

from dlgforge_core.export import prepare_export
from tests.export.conftest import default_records, make_record, write_outputs


def _front_matter(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    meta, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def test_card_front_matter_names_the_real_languages_and_files(project):
    cfg = project(license="cc-by-4.0", repo_id="acme/support-dialogs", generate_plots=False)
    records = default_records()
    records.append(make_record("main-fr-000000", "fr", [(
        "Comment puis-je télécharger mes anciennes factures pour la comptabilité ?",
        "Toutes les factures restent disponibles dans le portail de facturation au format PDF.")],
        scores=[4]))
    write_outputs(cfg.output_dir, records)
    result = prepare_export(cfg)

    meta, body = _front_matter((result.export_dir / "README.md").read_text(encoding="utf-8"))
    assert meta["language"] == ["de", "en", "fr"]          # the data's, not run.target_languages
    assert meta["license"] == "cc-by-4.0"
    assert meta["size_categories"] == ["n<1K"]
    assert "text-generation" in meta["task_categories"]
    assert meta["pretty_name"] == "support-dialogs"
    paths = {c["config_name"]: c["data_files"][0]["path"] for c in meta["configs"]}
    assert paths == {"default": "data/conversations_sharegpt_judged.jsonl", "sft": "sft/train.jsonl"}
    for path in paths.values():
        assert path in result.files
    assert len((result.export_dir / paths["default"]).read_text(encoding="utf-8").splitlines()) == len(records)

    # lineage and every column of every data file are described
    assert cfg.config_hash in body
    assert "gen-model" in body and "judge-model" in body
    for path in paths.values():
        row = json.loads((result.export_dir / path).read_text(encoding="utf-8").splitlines()[0])
        section = body.split(f"### `{path}`", 1)[1].split("###", 1)[0]
        for column in row:
            assert f"| `{column}` |" in section, (path, column)
    assert "## Limitations" in body


def test_plain_sharegpt_is_the_source_without_judging_and_plots_are_svg(project):
    cfg = project(generate_plots=True)
    pairs = [("How are invoices issued for my subscription each month?", "On the first day of each month."),
             ("How long does a refund take after I cancel an order?", "Refunds take five business days.")]
    records = [make_record(f"main-en-{i:06d}", "en", [qa], index=i) for i, qa in enumerate(pairs)]
    write_outputs(cfg.output_dir, records, judged=False)
    result = prepare_export(cfg)
    meta, body = _front_matter((result.export_dir / "README.md").read_text(encoding="utf-8"))
    assert meta["configs"][0]["data_files"][0]["path"] == "data/conversations_sharegpt.jsonl"
    assert meta["language"] == ["en"]

    plots = [f for f in result.files if f.startswith("plots/")]
    assert {"plots/languages.svg", "plots/turn_counts.svg", "plots/message_words.svg"} <= set(plots)
    assert "plots/judge_scores.svg" not in plots                     # nothing was judged
    for plot in plots:
        root = ET.parse(result.export_dir / plot).getroot()
        assert root.tag.endswith("svg")
        assert f"]({plot})" in body
    # byte-stable plots: the same data gives the same export version
    again = prepare_export(cfg)
    assert again.version == result.version
