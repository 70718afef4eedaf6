"""Generated sections of docs/results.md: a writer replaces its own section and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from stateful_rl.docs_sections import replace_section, write_section

PAGE = """# Results

Written by hand, kept.

<!-- results:envs -->
old envs table
<!-- /results:envs -->

Between the sections, kept.

<!-- results:agents -->
| agent | return |
|---|---|
| dqn | 500 |
<!-- /results:agents -->

Footer, kept.
"""


def test_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "results.md"
    write_section(path, "envs", "| env | steps/s |\n|---|---|\n| A | 1 |\n")
    assert path.read_text() == (
        "<!-- results:envs -->\n| env | steps/s |\n|---|---|\n| A | 1 |\n<!-- /results:envs -->\n"
    )


def test_replaces_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    path.write_text(PAGE)
    write_section(path, "envs", "new envs table")
    assert path.read_text() == PAGE.replace("old envs table", "new envs table")
    write_section(path, "envs", "new envs table")  # the same run again: the same page
    assert path.read_text() == PAGE.replace("old envs table", "new envs table")


def test_a_new_section_goes_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    path.write_text(PAGE)
    write_section(path, "nfq-cartpole-paper", "nfq table")
    assert path.read_text() == (
        PAGE
        + "\n<!-- results:nfq-cartpole-paper -->\nnfq table\n<!-- /results:nfq-cartpole-paper -->\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- results:envs -->\nno end\n", "has no <!-- /results:envs -->"),
        ("text\n<!-- /results:envs -->\n", "closes a section never opened"),
        (
            "<!-- results:envs -->\n<!-- results:agents -->\n<!-- /results:agents -->\n"
            "<!-- /results:envs -->\n",
            "inside section 'envs'",
        ),
        (
            "<!-- results:envs -->\n<!-- /results:agents -->\n",
            "inside section 'envs'",
        ),
        (
            "<!-- results:envs -->\na\n<!-- /results:envs -->\n"
            "<!-- results:envs -->\nb\n<!-- /results:envs -->\n",
            "appears twice",
        ),
        ("<!-- results:Bad_Key -->\n<!-- /results:Bad_Key -->\n", "bad section key"),
    ],
)
def test_malformed_markers_are_refused_and_the_file_kept(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "results.md"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        write_section(path, "agents", "new")
    assert str(path) in str(error.value)  # names the file
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["results.md"]  # no temporary left


def test_bad_keys_and_bodies_are_refused() -> None:
    with pytest.raises(ValueError, match="section key"):
        replace_section(PAGE, "Envs Table", "x")
    with pytest.raises(ValueError, match="must not contain section markers"):
        replace_section(PAGE, "envs", "<!-- /results:envs -->")
