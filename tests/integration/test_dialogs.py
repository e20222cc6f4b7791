"""Replays every tests/dialogs/*.dialog transcript against the live server (format: tests/dialogs/README.md)."""
from __future__ import annotations

import pytest

from conftest import DIALOGS_DIR
from helpers import parse_dialog

DIALOG_FILES = sorted(DIALOGS_DIR.glob("*.dialog"))


def test_there_are_dialogs():
    assert len(DIALOG_FILES) >= 5, f"expected dialog transcripts in {DIALOGS_DIR}"


@pytest.mark.parametrize("path", DIALOG_FILES, ids=[p.stem for p in DIALOG_FILES])
def test_dialog(server, path):
    dialog = parse_dialog(path)
    assert dialog.steps and dialog.steps[0].kind == "s", f"{path.name}: must start with the greeting (s: 220)"
    transcript: list[str] = []
    c = server.connect(greeting=False)
    try:
        for step in dialog.steps:
            where = f"{path.name}:{step.lineno}"
            if step.kind == "c":
                transcript.append(f"c: {step.data[:120]!r}{'...' if len(step.data) > 120 else ''}")
                c.send(step.data)
            elif step.kind == "s":
                try:
                    reply = c.reply()
                except Exception as e:  # noqa: BLE001 - re-raised with the transcript
                    raise AssertionError(f"{where}: expected a reply starting {step.prefix!r}, got {e}\n"
                                         + "\n".join(transcript)) from None
                transcript.append(f"s: {reply!s}")
                assert reply.first.startswith(step.prefix), (
                    f"{where}: expected a reply starting {step.prefix!r}, got {reply.first!r}\n"
                    + "\n".join(transcript))
            elif step.kind == "close":
                rest = c.expect_closed()
                assert rest == b"", f"{where}: expected the connection to close, got {rest!r}"
                transcript.append("(closed)")
        if dialog.steps[-1].kind != "close":
            extra = c.nothing_pending(0.2)
            assert extra == b"", f"{path.name}: unexpected bytes at the end: {extra!r}"
    finally:
        c.close()
