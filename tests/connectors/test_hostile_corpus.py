"""The hostile corpus: hundreds of statements a model (or a prompt injection) might send.

Every statement of ``hostile_sql.txt`` runs through ``tool_run`` exactly as the assistant's
call would, on each engine it names, as verified visitor 1. Whatever happens, nothing outside
the approved columns and visitor 1's rows may come back (``find_leaks`` over the data, and over
error messages). Statements marked ``refuse`` must be refused by the guard; statements marked
``allowed`` must run and return what they return on the reference database. The last tests
check that the target databases are unchanged (row counts, checksums, tables, roles).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.connectors.tools import jsonable
from apps.tools.registry import ToolContext, tool_run
from tests.connectors.conftest import LEAK_MARKERS, VISITOR, connection_for, find_leaks

CORPUS = Path(__file__).with_name("hostile_sql.txt")
ENGINES = ("postgresql", "mysql")
TALLY: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True)
class Case:
    line: int
    expect: str  # refuse | allowed | filtered
    engine: str
    topic: str
    sql: str


def load_corpus() -> list[Case]:
    cases: list[Case] = []
    expect, engines, topic = "", (), ""
    for number, raw in enumerate(CORPUS.read_text().splitlines(), start=1):
        line = raw.strip()
        if line.startswith("## "):
            head, _, topic = line[3:].partition(":")
            expect, scope = head.split()
            engines = ENGINES if scope == "both" else (scope,)
            continue
        if not line or line.startswith("#"):
            continue
        sql = line.replace("\\n", "\n")
        cases.extend(Case(number, expect, engine, topic.strip(), sql) for engine in engines)
    return cases


CASES = load_corpus()


def test_corpus_is_large_enough():
    statements = {c.line for c in CASES}
    assert len(statements) >= 300
    assert {c.expect for c in CASES} == {"refuse", "allowed", "filtered"}


def _normalise(rows):
    return sorted(repr([jsonable(v) for v in row]) for row in rows)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.engine}-L{c.line}")
def test_hostile_statement(case, request, in_tenant_a, assistant):
    scratch = request.getfixturevalue(
        "pg_scratch" if case.engine == "postgresql" else "mysql_scratch"
    )
    connection_for(scratch, assistant=assistant)
    result = tool_run(
        name="sql_shop",
        arguments={"sql": case.sql},
        context=ToolContext(visitor_id=VISITOR),
        assistant=assistant,
    )
    outcome = "ok" if result.ok else result.error_code
    TALLY[(case.engine, outcome)] += 1
    # Nothing outside the approved columns and visitor 1's rows, in the data or in a message
    # (a marker the statement itself contains may be echoed back by an error message).
    assert find_leaks([result.data, result.summary]) == []
    echoed = [m for m in LEAK_MARKERS if m in result.error_message and m not in case.sql]
    assert echoed == [], result.error_message
    if case.expect == "refuse":
        assert not result.ok and result.error_code == "sql_refused", (
            f"accepted: {case.sql!r} -> {result.data}"
        )
    elif case.expect == "allowed":
        assert result.ok, f"{case.sql!r}: {result.error_code} {result.error_message}"
        reference = scratch.reference_rows(case.sql)
        assert reference is not None, "the statement does not run on the reference database"
        if len(reference) and len(reference[0]) == len(result.data["columns"]):
            assert _normalise(result.data["rows"]) == _normalise(reference)
        else:
            assert len(result.data["rows"]) == len(reference)


@pytest.mark.parametrize("engine", ENGINES)
def test_zz_target_databases_are_unchanged_after_the_corpus(engine, request):
    scratch = request.getfixturevalue("pg_scratch" if engine == "postgresql" else "mysql_scratch")
    ran = sum(n for (e, _), n in TALLY.items() if e == engine)
    accepted = TALLY[(engine, "ok")]
    print(f"\n{engine}: {ran} statements run, {accepted} accepted, {ran - accepted} refused/failed")
    print({k[1]: v for k, v in TALLY.items() if k[0] == engine})
    assert scratch.fingerprint() == scratch.initial_fingerprint
