"""Server time of every backoffice page of one tenant holding 100,000 conversations and
1,000,000 messages.

Builds a tenant with ``tenant_create`` (the real path: schema, all tenant migrations, owner,
widget), then seeds it with COPY through psycopg: conversations spread over the last 365 days
(widget, API, backoffice and command-line channels; some verified visitors), user questions and
assistant answers made of real English technical prose (the corpus of ``bench/retrieval.py``:
Python's documentation sources and the standard library's docstrings and comments), sources and
tool calls on answers, models, tokens, cost and latency, ratings with comments, flags, tags,
folders, private notes and audit events. The messages' secondary indexes are dropped during the
load and built afterwards (as after a bulk import), then everything is VACUUM ANALYZEd.

Each page is then requested in-process with Django's test ``Client`` against the tenant's host
(``settings.DEBUG`` off, as in production), signed in as the owner: a few warm-up requests, then
``--requests`` timed ones (p50 and p95 of the whole request through every middleware, no network)
and one more inside ``CaptureQueriesContext`` for the number of SQL queries. Pages that answer
404 (not built yet) are listed as skipped.

Runs against the development database (the embedded server unless DATABASE_URL is set) and never
stops it. Seeding takes minutes: ``--keep`` keeps the tenant (and reuses it on the next run).

Usage: python -m bench.backoffice [--conversations 100000] [--messages 1000000]
                                  [--requests 20] [--keep]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import random
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.retrieval import QUESTION_TEMPLATES, corpus_words, percentile, vocabulary

DATA = Path(__file__).resolve().parent / "data"
KEPT_SLUG = "bench-backoffice"
TURN_SECONDS = 80  # a question every 80 s, its answer 20 s later
ANSWER_SECONDS = 20
PASSWORD = "bench-password-123"  # a throwaway bench account
TAGS = [
    ("billing", "orange"), ("bug", "red"), ("feature request", "blue"), ("praise", "green"),
    ("escalate", "pink"), ("docs gap", "purple"), ("follow up", "teal"), ("spam", "grey"),
]  # fmt: skip
FOLDERS = ["Product feedback", "Support queue", "Sales leads", "Training set", "Legal review"]
MODELS = [
    ("llama3.1:8b", "ollama", Decimal(0)),
    ("qwen2.5:14b", "vllm", Decimal(0)),
    ("gpt-4o-mini", "openai", Decimal("0.00000060")),
]
TOOLS = ["order_status", "invoice_lookup", "account_plan", "shipment_track"]
AUDIT_ACTIONS = [
    "widget.updated", "tool.called", "assistant.updated", "knowledge.source_added",
    "conversation.exported", "model.added", "connector.updated",
]  # fmt: skip
_CLEAN_WORD = re.compile(r"^[A-Za-z][A-Za-z'.,;:()-]{0,24}$")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument(
        "--keep", action="store_true", help="keep the tenant (and reuse it next time)"
    )
    args, _ = parser.parse_known_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # as in production: no per-query logging (time and memory)
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.accounts.models import User
    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_create

    call_command("migrate_schemas", "--shared", "--executor", "standard", verbosity=0)
    slug = f"{KEPT_SLUG}-{args.conversations}" if args.keep else f"bench-bo-{uuid.uuid4().hex[:6]}"
    tenant = Tenant.objects.filter(slug=slug).first() if args.keep else None
    if tenant is not None:
        call_command("migrate_schemas", "--schema", tenant.schema_name, verbosity=0)
        owner = User.objects.get(email=f"owner@{slug}.bench.test")
    else:
        started = time.perf_counter()
        created = tenant_create(
            slug=slug,
            name="Bench Backoffice",
            domain=f"{slug}.localhost",
            owner_email=f"owner@{slug}.bench.test",
            owner_password=PASSWORD,
        )
        tenant, owner = created.tenant, created.owner
        print(f"tenant {slug} created in {time.perf_counter() - started:.1f} s")
    host = tenant.domains.get(is_primary=True).domain
    try:
        with tenant_context(tenant):
            from apps.conversations.models import Conversation

            if not Conversation.objects.exists():
                seed(args.conversations, args.messages, owner)
            words = search_words()
        measure(host, owner, words, args.requests)
    finally:
        if not args.keep:
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
            Tenant.objects.filter(pk=tenant.pk).delete()
            User.objects.filter(email=f"owner@{slug}.bench.test").delete()


# --- Seeding ---------------------------------------------------------------------------------


def prose() -> list[str]:
    """The corpus as plain words (markup, tables and code punctuation left out)."""
    return [w for w in corpus_words() if _CLEAN_WORD.match(w)]


def user_questions(rng: random.Random) -> list[str]:
    asked = [
        line.split("\t", 1)[0]
        for line in (DATA / "python_docs_questions.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    words = vocabulary(3000)[50:]
    made = [rng.choice(QUESTION_TEMPLATES).format(*rng.sample(words, 2)) for _ in range(5000)]
    return asked + [q[0].upper() + q[1:] + "?" for q in made]


def message_split(conversations: int, messages: int, rng: random.Random) -> list[int]:
    """Messages per conversation (user/assistant pairs, at least one), summing to ``messages``."""
    pairs = [max(1, messages // conversations // 2)] * conversations
    total = sum(pairs) * 2
    while total < messages - 1:
        pairs[rng.randrange(conversations)] += 1
        total += 2
    for _ in range(conversations):  # spread: move pairs between random conversations
        a, b = rng.randrange(conversations), rng.randrange(conversations)
        if pairs[a] > 1:
            pairs[a] -= 1
            pairs[b] += 1
    return pairs


def seed(conversations: int, messages: int, owner: Any) -> None:
    from django.db import connection

    from apps.conversations.models import Folder, Tag
    from apps.llm.models import Assistant
    from apps.widgets.models import Widget

    rng = random.Random(42)
    started = time.perf_counter()
    words = prose()
    questions = user_questions(rng)
    assistants = [
        Assistant.objects.create(name=name, is_default=i == 0).pk
        for i, name in enumerate(["Support", "Sales", "Docs helper"])
    ]
    widget = Widget.objects.values_list("pk", flat=True).first()
    tags = [Tag.objects.create(name=name, colour=colour).pk for name, colour in TAGS]
    folders = [Folder.objects.create(name=name).pk for name in FOLDERS]
    pairs = message_split(conversations, messages, rng)
    now = datetime.now().astimezone()
    print(
        f"corpus ({len(words):,} words) and settings ready in {time.perf_counter() - started:.1f} s"
    )

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'conversations_message' AND indexdef NOT LIKE 'CREATE UNIQUE%%'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        conversation_rows, message_rows = plan_rows(
            rng, pairs, words, questions, assistants, widget, folders, owner, now
        )
        with cursor.cursor.copy(
            "COPY conversations_conversation (id, assistant_id, widget_id, channel, "
            "visitor_session, visitor_id, title, created_at, last_message_at, flagged, "
            "flagged_at, flagged_by_id, flagged_by_label, folder_id) FROM STDIN"
        ) as copy:
            for row in conversation_rows:
                copy.write_row(row)
        conversation_ids = [row[0] for row in conversation_rows]
        print(
            f"{len(conversation_rows):,} conversations copied in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        count = 0
        with cursor.cursor.copy(
            "COPY conversations_message (id, conversation_id, role, content, status, client_id, "
            "sources, tool_calls, notice, error_code, model, provider, latency_ms, ttft_ms, "
            "retrieval_ms, prompt_tokens, completion_tokens, cost_usd, seq, rating, "
            "rating_comment, created_at, updated_at, completed_at) FROM STDIN"
        ) as copy:
            for row in message_rows:
                copy.write_row(row)
                count += 1
        print(
            f"{count:,} messages copied (full-text vectors computed) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        for _name, definition in indexes:
            cursor.execute(definition)
        print(f"{len(indexes)} message indexes built in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        with cursor.cursor.copy(
            "COPY conversations_conversation_tags (conversation_id, tag_id) FROM STDIN"
        ) as copy:
            for conversation_id in rng.sample(conversation_ids, len(conversation_ids) // 10):
                for tag in rng.sample(tags, rng.choice((1, 1, 1, 2, 3))):
                    copy.write_row((conversation_id, tag))
        with cursor.cursor.copy(
            "COPY conversations_note (conversation_id, author_id, author_label, body, created_at) "
            "FROM STDIN"
        ) as copy:
            for conversation_id in rng.sample(conversation_ids, len(conversation_ids) // 50):
                body = " ".join(rng.sample(words[:200_000], rng.randint(8, 40)))
                copy.write_row((conversation_id, owner.pk, owner.email, body, now))
        with cursor.cursor.copy(
            "COPY audit_auditevent (created_at, actor_id, actor_label, action, object_type, "
            "object_id, ip_address, user_agent, data) FROM STDIN"
        ) as copy:
            for i in range(20_000):
                action = rng.choice(AUDIT_ACTIONS)
                when = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
                copy.write_row(
                    (when, owner.pk, owner.email, action, action.split(".")[0], str(i),
                     f"10.0.{i % 250}.{i % 200}", "bench", "{}")
                )  # fmt: skip
        for table in (
            "conversations_conversation",
            "conversations_message",
            "conversations_conversation_tags",
            "conversations_note",
            "audit_auditevent",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        print(
            f"tags, notes, audit events and VACUUM ANALYZE in {time.perf_counter() - started:.1f} s"
        )


def plan_rows(
    rng: random.Random,
    pairs: list[int],
    words: list[str],
    questions: list[str],
    assistants: list[int],
    widget: Any,
    folders: list[int],
    owner: Any,
    now: datetime,
) -> tuple[list[tuple[Any, ...]], Iterator[tuple[Any, ...]]]:
    """Conversation rows (in memory: 100,000 small tuples) and a generator of message rows."""
    conversations: list[tuple[Any, ...]] = []
    timelines: list[tuple[uuid.UUID, datetime, int]] = []
    for n in pairs:
        conversation_id = uuid.uuid4()
        started = now - timedelta(seconds=rng.uniform(3600, 365 * 86400))
        last = started + timedelta(seconds=(n - 1) * TURN_SECONDS + ANSWER_SECONDS)
        if last > now:
            started, last = started - (last - now), now
        channel = rng.choices(["widget", "api", "backoffice", "cli"], [80, 15, 3, 2])[0]
        verified = channel == "widget" and rng.random() < 0.3
        flagged = rng.random() < 0.02
        conversations.append(
            (conversation_id, rng.choice(assistants), widget if channel == "widget" else None,
             channel, uuid.uuid4().hex if channel == "widget" else "",
             f"customer-{rng.randint(1, 20000)}" if verified else "",
             "",  # title: set below from the first question
             started, last, flagged, last if flagged else None, owner.pk if flagged else None,
             owner.email if flagged else "",
             rng.choice(folders) if rng.random() < 0.05 else None)
        )  # fmt: skip
        timelines.append((conversation_id, started, n))
    first_questions = [rng.choice(questions) for _ in pairs]
    conversations = [
        (*row[:6], question[:80], *row[7:])
        for row, question in zip(conversations, first_questions, strict=True)
    ]

    def one_conversation(
        conversation_id: uuid.UUID, started: datetime, n: int, first: str
    ) -> Iterator[tuple[Any, ...]]:
        for turn in range(n):
            at = started + timedelta(seconds=turn * TURN_SECONDS)
            question = first if turn == 0 else rng.choice(questions)
            yield (uuid.uuid4(), conversation_id, "user", question, "complete", "", "[]", "[]",
                   "", "", "", "", None, None, None, 0, 0, 0, 0, "", "", at, at, None)  # fmt: skip
            answered = at + timedelta(seconds=ANSWER_SECONDS)
            yield answer_row(rng, conversation_id, words, answered)

    # Rows land in time order, as in production: conversations that overlap in time have
    # their messages interleaved on disk.
    order = sorted(range(len(conversations)), key=lambda i: timelines[i][1])
    conversations = [conversations[i] for i in order]
    streams = [one_conversation(*timelines[i], first_questions[i]) for i in order]
    return conversations, heapq.merge(*streams, key=lambda row: row[21])


def answer_row(
    rng: random.Random, conversation_id: uuid.UUID, words: list[str], at: datetime
) -> tuple[Any, ...]:
    start = rng.randrange(len(words) - 200)
    text = " ".join(words[start : start + rng.randint(40, 120)])
    model, provider, price = rng.choice(MODELS)
    prompt, completion = rng.randint(300, 3000), rng.randint(50, 600)
    sources = [
        {
            "title": f"{words[start + i * 7].strip('.,;:()')} guide",
            "url": f"https://docs.example.com/guide/{start + i}.html",
            "page": None,
            "snippet": " ".join(words[start + i * 20 : start + i * 20 + 25]),
        }
        for i in range(rng.randint(0, 3))
    ]
    tool_calls = []
    if rng.random() < 0.05:
        tool = rng.choice(TOOLS)
        order = f"A-{rng.randint(1000, 9999)}"
        tool_calls.append(
            {"name": tool, "arguments": json.dumps({"id": order}), "ok": True,
             "summary": f"{tool}: {order} found", "error_code": "",
             "result": json.dumps({"id": order, "status": "shipped"}), "duration_ms": 35.2}
        )  # fmt: skip
    rating, comment = "", ""
    if rng.random() < 0.08:
        rating = "up" if rng.random() < 0.75 else "down"
        if rating == "down" and rng.random() < 0.3:
            comment = "This did not answer my question about the " + rng.choice(words[:5000])
    incomplete = rng.random() < 0.01
    latency = rng.randint(800, 9000)
    return (uuid.uuid4(), conversation_id, "assistant", text,
            "incomplete" if incomplete else "complete", "", json.dumps(sources),
            json.dumps(tool_calls), "", "stream_lost" if incomplete else "", model, provider,
            latency, rng.randint(150, 1500), rng.randint(5, 80), prompt, completion,
            (prompt + completion) * price, 0, rating, comment, at, at,
            at + timedelta(milliseconds=latency))  # fmt: skip


# --- Measuring -------------------------------------------------------------------------------


def search_words() -> dict[str, tuple[str, int]]:
    """A common word, a rare word, a common two-word phrase and a rare one from the seeded
    messages, with the number of messages each matches."""
    from django.db import connection

    def matches(query: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM conversations_message "
                "WHERE search @@ websearch_to_tsquery('english', %s)",
                [query],
            )
            return int(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        # Lexemes that are also plain words (they stem to themselves), by sampled frequency.
        cursor.execute(
            "SELECT word, ndoc FROM ts_stat($$SELECT search FROM conversations_message "
            "TABLESAMPLE SYSTEM (2) REPEATABLE (7)$$) "
            "WHERE length(word) >= 5 AND word ~ '^[a-z]+$' "
            "AND to_tsvector('english', word) = (word || ':1')::tsvector ORDER BY ndoc DESC"
        )
        # ... and that appear as such in the text (not stems like "exampl").
        spelled = {word.lower().strip(".,;:()'") for word in prose()}
        lexemes = [(word, ndoc) for word, ndoc in cursor.fetchall() if word in spelled]
    common = lexemes[0][0]
    rare = next(word for word, ndoc in reversed(lexemes) if ndoc == 1 and len(word) >= 7)
    # The most frequent pair of adjacent frequent words within a sentence ("return value").
    pairs: dict[tuple[str, str], int] = {}
    plain = {word for word, _ in lexemes[:400]}
    for a, b in itertools.pairwise(prose()[:400_000]):
        first, second = a.lower(), b.lower().rstrip(".,;:)")
        if first in plain and second in plain and first != second:
            pairs[(first, second)] = pairs.get((first, second), 0) + 1
    phrase = '"{} {}"'.format(*max(pairs, key=lambda pair: pairs[pair]))
    found = {
        name: (q, matches(q))
        for name, q in (("common", common), ("rare", rare), ("phrase", phrase))
    }
    # The worst case for a GIN index, which holds no word positions: the two most common
    # words as a phrase, in the order that occurs least.
    first, second = lexemes[0][0], lexemes[1][0]
    orders = [(q, matches(q)) for q in (f'"{first} {second}"', f'"{second} {first}"')]
    found["rare phrase"] = min(orders, key=lambda order: order[1])
    return found


def measure(host: str, owner: Any, words: dict[str, tuple[str, int]], requests: int) -> None:
    from urllib.parse import urlencode

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import tenant_context

    from apps.conversations.models import Conversation, Folder, Tag
    from apps.tenants.models import Tenant

    tenant = Tenant.objects.get(domains__domain=host)
    with tenant_context(tenant):
        latest = Conversation.objects.order_by("-last_message_at").values_list("pk", flat=True)[0]
        tag = Tag.objects.order_by("name").first()
        folder = Folder.objects.order_by("name").first()
        totals = (Conversation.objects.count(), messages_count())
    connection.set_schema_to_public()
    client = Client(HTTP_HOST=host, raise_request_exception=False)
    client.force_login(owner)
    since = (datetime.now().astimezone() - timedelta(days=90)).date().isoformat()
    filtered = urlencode(
        {"since": since, "rating": "down", "channel": "widget", "assistant": "", "tag": ""}
    )
    pages: list[tuple[str, str]] = [
        ("dashboard", "/"),
        ("conversations", "/conversations/"),
        ("conversations, filtered (90 days, rated down, widget)", f"/conversations/?{filtered}"),
        ("conversations, flagged", "/conversations/?flagged=1"),
        (f"conversations, tag '{tag}'", f"/conversations/?tag={tag.pk if tag else ''}"),
        (f"conversations, folder '{folder}'", f"/conversations/?folder={folder.pk if folder else ''}"),
        ("conversations, page 40", "/conversations/?page=40"),
    ]  # fmt: skip
    labels = {
        "common": "search, common word",
        "rare": "search, rare word",
        "phrase": "search, common two-word phrase",
        "rare phrase": "search, rare phrase of the two commonest words",
    }
    for name, (query, count) in words.items():
        label = labels[name]
        pages.append(
            (f"{label} {query} ({count:,} messages)", f"/conversations/?{urlencode({'q': query})}")
        )
    pages += [
        ("conversation", f"/conversations/{latest}/"),
        ("audit log", "/audit/"),
        ("knowledge", "/knowledge/"),
        ("assistants", "/llm/assistants/"),
        ("models", "/llm/models/"),
        ("widgets", "/widgets/"),
        ("connectors", "/connectors/"),
        ("tools", "/tools/"),
        ("team", "/team/"),
        ("API keys", "/api-keys/"),
    ]
    print(
        f"\n{totals[0]:,} conversations, {totals[1]:,} messages; {requests} timed requests per "
        "page after 3 warm-up requests; server time in-process (Django test Client, DEBUG off)\n"
    )
    print("| page | path | p50 ms | p95 ms | queries |")
    print("| --- | --- | ---: | ---: | ---: |")
    skipped = []
    for label, path in pages:
        status = 0
        for _ in range(3):
            response = client.get(path)
            status = response.status_code
        if status == 404:
            skipped.append(f"{label} ({path})")
            continue
        if status != 200:
            print(f"| {label} | `{path}` | HTTP {status} | | |")
            continue
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        shown = path if len(path) <= 60 else path[:57] + "..."
        print(
            f"| {label} | `{shown}` | {statistics.median(timings):.1f} | "
            f"{percentile(timings, 95):.1f} | {len(queries)} |"
        )
    if skipped:
        print("\nskipped (404, not built yet): " + ", ".join(skipped))


def messages_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_message")
        return int(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
