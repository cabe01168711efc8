"""The spill file: rows come back as the same values, a living owner's file is left alone, a dead one's is taken."""

import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from guildbase.db.spill import SpillFile, decode_row, encode_row
from guildbase.testing import shifted_now

URL = "postgresql://guildbase@127.0.0.1/spill"

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)


@given(st.lists(values, max_size=10))
def test_a_row_comes_back_with_the_same_values_and_types(row: list[object]) -> None:
    back = decode_row(encode_row(tuple(row)))
    assert back == tuple(row)
    assert [type(v) for v in back] == [type(v) for v in row]


def test_take_empties_the_file_and_close_keeps_a_non_empty_one(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "log", URL)
    when = shifted_now()
    spill.append((when, 1, "a"))
    spill.append((when, 2, "b"))
    assert spill.take() == [(when, 1, "a"), (when, 2, "b")]
    assert spill.take() == []
    spill.append((when.date(), 3, None))
    spill.close()
    assert spill.path.exists()  # a row still on disk stays for the next start
    empty = SpillFile(tmp_path, "other", URL)
    empty.append((1,))
    empty.take()
    empty.close()
    assert not empty.path.exists()


def test_a_file_of_a_living_process_is_not_claimed_and_a_dead_ones_is(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from guildbase.db.spill import SpillFile\n"
        f"s = SpillFile(Path({str(tmp_path)!r}), 'log', {URL!r}); s.append((1, 'kept')); print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    owner = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline() == "ready\n"
        mine = SpillFile(tmp_path, "log", URL)
        assert list(mine.claim_orphans()) == []  # its owner holds the lock
        other_database = SpillFile(tmp_path, "log", URL + "2")
        owner.kill()
        owner.wait(60)
        assert list(other_database.claim_orphans()) == []  # never replayed into another database
        claimed = list(mine.claim_orphans())
        assert [rows for _, rows in claimed] == [[(1, "kept")]]
        assert claimed[0][0].name == f"{mine.prefix}{owner.pid}.jsonl"
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.communicate(timeout=60)


def test_a_line_cut_by_a_kill_is_skipped_and_the_rest_is_read(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path, "log", URL)
    orphan = tmp_path / f"{spill.prefix}{os.getpid() + 100_000}.jsonl"
    orphan.write_bytes(encode_row((1, "whole")) + b'[2,"cut')
    assert [rows for _, rows in spill.claim_orphans()] == [[(1, "whole")]]
