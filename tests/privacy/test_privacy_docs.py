"""docs/privacy.md is generated from the policy registry (R10.3): it cannot say something erase does not do."""

from pathlib import Path

from sqlalchemy import Column, MetaData, Table, Text

from guildbase.models import metadata
from guildbase.privacy.docs import encryption_note, render
from guildbase.privacy.policy import TOMBSTONE_USER_ID, Erase, policies


def test_privacy_docs_are_generated_from_the_current_policies(project_root: Path) -> None:
    rendered = render()
    committed = (project_root / "docs" / "privacy.md").read_text()
    assert committed == rendered, "docs/privacy.md is stale: run `uv run guildbase privacy docs`"


def test_the_page_lists_every_personal_field_with_why_how_long_and_what_erase_does() -> None:
    rendered = render()
    for policy in policies():
        section = rendered.split(f"### `{policy.table}`", 1)[1].split("\n### ", 1)[0]
        for column in policy.columns:
            row = next(line for line in section.splitlines() if line.startswith(f"| `{column.column}`"))
            assert policy.retention in row
            assert (column.reason or policy.purpose) in row
            assert {Erase.DELETE: "deleted", Erase.NULL: "nulled", Erase.ANONYMISE: "anonymised"}.get(
                column.erase, "kept"
            ) in row
        for name in policy.personal:
            assert f"| `{name}`" in section
    assert str(TOMBSTONE_USER_ID) in rendered
    assert "privacy.md" in (Path(__file__).resolve().parents[2] / "mkdocs.yml").read_text()


def test_an_encrypted_column_is_noted_as_such() -> None:
    plain = Table("t", MetaData(), Column("secret", Text, info={"encrypted": True}), Column("note", Text))
    assert encryption_note(plain.c.secret) == "encrypted at rest"
    assert encryption_note(plain.c.note) == ""
    assert all(encryption_note(column) == "" for table in metadata.tables.values() for column in table.columns)
