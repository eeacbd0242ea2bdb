"""Reads for the backoffice's conversation pages (current tenant schema).

The list is ordered by newest activity and paginated without scanning everything:

- Filters other than text become plain conditions on conversations; the rating filters use the
  partial indexes on rated answers. Counts stop at ``COUNT_CAP`` ("10,000+"): counting every
  row of a large tenant on each page view costs more than the rest of the page.
- Text search uses PostgreSQL full-text search (``websearch_to_tsquery``: words, "quoted
  phrases", ``or``, ``-word``) on the messages' stored vectors, in one of two ways:
  * few matches (a rare word): a probe of the GIN index for at most ``SEARCH_PROBE`` + 1
    matching messages finds them all; the list is filtered to their conversations, counted
    and ordered like any other;
  * many matches (a common word or phrase): conversations are walked newest first and each is
    checked for one matching message (a correlated subquery with LIMIT 1 that PostgreSQL runs
    per row, on the conversation's few messages, never the GIN index), so a page costs about
    25 / (share of conversations that match) checks of ~25 µs. Such lists are not counted.
  A phrase's probe takes its candidates from the index of adjacent word pairs (``WordPairs``,
  migration 0004), not from the GIN index of the vectors: that one holds no word positions,
  so it would return every message that merely holds all the phrase's words (a rare phrase of
  common words: tens of thousands of messages to read and check).
  BM25 (pg_search, used by knowledge retrieval) ranks by relevance, which this time-ordered
  list does not need, and a BM25 index on the busiest table would be rewritten on every
  streamed answer checkpoint.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.conversations.models import (
    SEARCH_CONFIG,
    Channel,
    Conversation,
    Folder,
    Message,
    Note,
    Rating,
    Role,
    Tag,
)
from apps.core.errors import NotFound
from apps.llm.models import Assistant

PAGE_SIZE = 25
COUNT_CAP = 10_000
SEARCH_PROBE = 1_000
SEARCH_MAX_CHARS = 200
MAX_PAGE = 4_000  # 100,000 conversations; an OFFSET deeper than that is a scan
SEARCH_MAX_PAGES = 40  # of a common-word search (1,000 conversations)
MESSAGES_PAGE_SIZE = 100
RATING_FILTERS = {"up": "Rated helpful", "down": "Rated not helpful", "none": "Not rated"}
# ts_headline marks matches with these; they are removed from the text first, so after the
# text is escaped they can only be the marks (see ``highlight``).
_MARK_START, _MARK_STOP = "\x02", "\x03"


# --- Filters ---------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ConversationFilters:
    """What the list is narrowed to; built from query parameters, bad values ignored."""

    q: str = ""
    since: date | None = None
    until: date | None = None
    rating: str = ""
    flagged: bool = False
    tag: int | None = None
    folder: int | None = None
    assistant: int | None = None
    channel: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ConversationFilters:
        rating = params.get("rating", "")
        channel = params.get("channel", "")
        return cls(
            q=" ".join(params.get("q", "").split())[:SEARCH_MAX_CHARS],
            since=_date(params.get("since")),
            until=_date(params.get("until")),
            rating=rating if rating in RATING_FILTERS else "",
            flagged=params.get("flagged", "") in ("1", "on", "true"),
            tag=_int(params.get("tag")),
            folder=_int(params.get("folder")),
            assistant=_int(params.get("assistant")),
            channel=channel if channel in Channel.values else "",
        )

    def params(self) -> dict[str, str]:
        """The filters as query parameters (only those that are set)."""
        values = {
            "q": self.q,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "rating": self.rating,
            "flagged": "1" if self.flagged else "",
            "tag": str(self.tag or ""),
            "folder": str(self.folder or ""),
            "assistant": str(self.assistant or ""),
            "channel": self.channel,
        }
        return {name: value for name, value in values.items() if value}

    @property
    def is_set(self) -> bool:
        return bool(self.params())


def search_query(text: str) -> SearchQuery:
    return SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)


def text_matches(text: str) -> Func:
    """``search @@ query`` in function form, which no index can serve. For checking the few
    messages of given conversations: where the planner underestimates how many messages
    match (phrases), it would otherwise AND the conversation index with the GIN index and
    read the whole posting list once per conversation (seconds for a common phrase)."""
    return Func(
        F("search"), search_query(text), function="ts_match_vq", output_field=BooleanField()
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


_QUOTED_PHRASE = re.compile(r'(?:^|[^-\w])"([^"]+)"')  # "words", not -"words"
_OR_WORD = re.compile(r"(?:^|\s)or(?:\s|$)", re.IGNORECASE)


def phrase_word_pairs(text: str) -> list[str]:
    """The word pairs (see ``WordPairs``) that every message matching ``text`` holds: those of
    its quoted phrases; none for a query with alternatives ("a" or "b") or without phrases."""
    phrases = [match.group(1) for match in _QUOTED_PHRASE.finditer(text)]
    if not phrases or _OR_WORD.search(text):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(conversations_word_pairs(phrase)) "
            "FROM unnest(%s::text[]) AS phrase",
            [phrases],
        )
        return sorted({pair for (pairs,) in cursor.fetchall() for pair in pairs})


def _tsquery_all(lexemes: list[str]) -> str:
    """A tsquery (input syntax) requiring every lexeme, each quoted as one lexeme."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " & ".join(quoted)


def _text_hits(text: str) -> list[uuid.UUID] | None:
    """The conversations with a message matching ``text``, or None when there are too many
    matching messages to list (more than ``SEARCH_PROBE``).

    A phrase's candidates come from the word-pair index and are checked on their stored
    vector; other queries use the GIN index of the vectors directly."""
    pairs = phrase_word_pairs(text)
    if pairs:
        messages = Message.objects.filter(
            RawSQL(
                'conversations_word_pairs("conversations_message"."content") @@ %s::tsquery',
                [_tsquery_all(pairs)],
                output_field=BooleanField(),
            ),
            text_matches(text),
        )
    else:
        messages = Message.objects.filter(search=search_query(text))
    probe = list(messages.values_list("conversation_id", flat=True)[: SEARCH_PROBE + 1])
    if len(probe) > SEARCH_PROBE:
        return None
    return list(dict.fromkeys(probe))


@dataclass
class ConversationQuery:
    queryset: QuerySet[Conversation]
    countable: bool  # False for a common-word search: walked, never counted


def conversations_matching(filters: ConversationFilters) -> ConversationQuery:
    """The conversations (with at least one message) that match ``filters``, newest activity
    first."""
    conversations = Conversation.objects.filter(last_message_at__isnull=False)
    if filters.since:
        conversations = conversations.filter(last_message_at__gte=_day_start(filters.since))
    if filters.until and filters.until < date.max:  # until the last day there is: no bound
        conversations = conversations.filter(
            last_message_at__lt=_day_start(filters.until + timedelta(days=1))
        )
    if filters.channel:
        conversations = conversations.filter(channel=filters.channel)
    if filters.assistant:
        conversations = conversations.filter(assistant_id=filters.assistant)
    if filters.folder:
        conversations = conversations.filter(folder_id=filters.folder)
    if filters.flagged:
        conversations = conversations.filter(flagged=True)
    if filters.tag:
        conversations = conversations.filter(
            pk__in=Conversation.tags.through.objects.filter(tag_id=filters.tag).values(
                "conversation_id"
            )
        )
    rated = Message.objects.filter(conversation=OuterRef("pk")).exclude(rating="")
    if filters.rating in (Rating.UP, Rating.DOWN):
        conversations = conversations.filter(Exists(rated.filter(rating=filters.rating)))
    elif filters.rating == "none":
        conversations = conversations.filter(~Exists(rated))
    if not filters.q:
        return ConversationQuery(conversations.order_by("-last_message_at", "-id"), True)
    hits = _text_hits(filters.q)
    if hits is not None:
        return ConversationQuery(
            conversations.filter(pk__in=hits).order_by("-last_message_at", "-id"), True
        )
    walked = conversations.alias(text_hit=Subquery(_first_hit(filters.q))).filter(
        text_hit__isnull=False
    )
    return ConversationQuery(walked.order_by("-last_message_at", "-id"), False)


def _first_hit(text: str) -> QuerySet[Message, Any]:
    """One matching message of the outer conversation (a subquery run per conversation)."""
    return Message.objects.filter(text_matches(text), conversation=OuterRef("pk")).values("pk")[:1]


# --- The list page ---------------------------------------------------------------------------


@dataclass
class ConversationRow:
    conversation: Conversation
    messages: int = 0
    rated_up: int = 0
    rated_down: int = 0
    first_question: str = ""
    snippet: SafeString | None = None
    snippet_role: str = ""
    tags: list[Tag] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return self.conversation.title or self.first_question or "Untitled conversation"


@dataclass
class ConversationPage:
    rows: list[ConversationRow]
    number: int
    count: int | None  # None: not counted (a common-word search)
    count_capped: bool
    has_next: bool

    @property
    def walk_limited(self) -> bool:
        """A common-word search stops listing at ``SEARCH_MAX_PAGES``."""
        return self.count is None and not self.has_next and self.number >= SEARCH_MAX_PAGES

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + len(self.rows)


def _page_number(value: str | None) -> int:
    return min(_int(value) or 1, MAX_PAGE)


def conversation_page(filters: ConversationFilters, page: str | None = None) -> ConversationPage:
    """One page of the list: ids first (cheap, index order), then the rows' details."""
    number = _page_number(page)
    matching = conversations_matching(filters)
    if not matching.countable:  # a walk: each page further costs more
        number = min(number, SEARCH_MAX_PAGES)
    offset = (number - 1) * PAGE_SIZE
    ids = list(matching.queryset.values_list("pk", flat=True)[offset : offset + PAGE_SIZE + 1])
    has_next = len(ids) > PAGE_SIZE and (matching.countable or number < SEARCH_MAX_PAGES)
    ids = ids[:PAGE_SIZE]
    count: int | None = None
    capped = False
    if matching.countable:
        count = matching.queryset[: COUNT_CAP + 1].count()
        capped = count > COUNT_CAP
        count = min(count, COUNT_CAP)
    rows = conversation_rows(ids, q=filters.q)
    return ConversationPage(rows, number, count, capped, has_next)


# What a row shows (and exports): loading only these halves the time of an export batch.
ROW_FIELDS = (
    "id", "title", "channel", "visitor_id", "created_at", "last_message_at", "flagged",
    "assistant__name", "folder__name",
)  # fmt: skip


def conversation_rows(ids: list[Any], *, q: str = "") -> list[ConversationRow]:
    """Details of the listed conversations, in the order of ``ids``."""
    if not ids:
        return []
    conversations = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=ids)
        .select_related("assistant", "folder")
        .only(*ROW_FIELDS)
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name", "colour")))
    }
    rows = {pk: ConversationRow(conversation) for pk, conversation in conversations.items()}
    for pk, messages, up, down in message_stats(ids):
        rows[pk].messages, rows[pk].rated_up, rows[pk].rated_down = messages, up, down
    untitled = [pk for pk, c in conversations.items() if not c.title]
    for pk, question in first_questions(untitled).items():
        rows[pk].first_question = question
    if q:
        for pk, (role, snippet) in search_snippets(ids, q).items():
            rows[pk].snippet, rows[pk].snippet_role = snippet, role
    for row in rows.values():
        row.tags = list(row.conversation.tags.all())
    return [rows[pk] for pk in ids if pk in rows]


def message_stats(ids: Iterable[Any]) -> list[tuple[Any, int, int, int]]:
    """(conversation id, messages, answers rated up, answers rated down) per conversation."""
    return list(
        Message.objects.filter(conversation_id__in=list(ids))
        .values("conversation_id")
        .annotate(
            n=Count("pk"),
            up=Count("pk", filter=Q(rating=Rating.UP)),
            down=Count("pk", filter=Q(rating=Rating.DOWN)),
        )
        .order_by()
        .values_list("conversation_id", "n", "up", "down")
    )


def first_questions(ids: list[Any]) -> dict[Any, str]:
    if not ids:
        return {}
    rows = (
        Message.objects.filter(conversation_id__in=ids, role=Role.USER)
        .order_by("conversation_id", "created_at")
        .distinct("conversation_id")
        .values_list("conversation_id", "content")
    )
    return {pk: content[:200] for pk, content in rows}


# The newest matching message of each listed conversation (its few messages are checked
# directly: ``ts_match_vq`` is ``@@`` that the GIN index cannot serve, see text_matches).
_SNIPPETS_SQL = f"""
WITH q AS (SELECT websearch_to_tsquery('{SEARCH_CONFIG}', %s) AS query),
hit AS (
    SELECT DISTINCT ON (m.conversation_id) m.id
    FROM conversations_message m, q
    WHERE m.conversation_id = ANY(%s) AND ts_match_vq(m.search, q.query)
    ORDER BY m.conversation_id, m.created_at DESC
)
SELECT m.conversation_id, m.role,
       ts_headline('{SEARCH_CONFIG}', translate(left(m.content, 20000), E'\\x02\\x03', ''),
                   q.query,
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                   || ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
FROM hit JOIN conversations_message m ON m.id = hit.id, q
"""  # noqa: S608 - constants only; values are parameters


def search_snippets(ids: list[Any], q: str) -> dict[Any, tuple[str, SafeString]]:
    """The newest matching message of each conversation, as an escaped excerpt with the
    matching words in <mark>."""
    with connection.cursor() as cursor:
        cursor.execute(_SNIPPETS_SQL, [q, list(ids)])
        return {pk: (role, highlight(text)) for pk, role, text in cursor.fetchall()}


def highlight(text: str) -> SafeString:
    """Escape ``text`` and turn ts_headline's marks into <mark> elements."""
    out: list[str] = []
    marked = False
    for part in text.replace(_MARK_STOP, _MARK_START).split(_MARK_START):
        if part:
            out.append(f"<mark>{escape(part)}</mark>" if marked else str(escape(part)))
        marked = not marked
    return mark_safe("".join(out))  # noqa: S308 - every piece is escaped above


@dataclass
class FilterChoices:
    assistants: list[tuple[int, str]]
    tags: list[Tag]
    folders: list[Folder]


def filter_choices() -> FilterChoices:
    return FilterChoices(
        assistants=list(Assistant.objects.order_by("name").values_list("pk", "name")),
        tags=list(Tag.objects.order_by("name")),
        folders=list(Folder.objects.order_by("name")),
    )


# --- One conversation ------------------------------------------------------------------------


def conversation_get(*, conversation_id: Any) -> Conversation:
    conversation = (
        Conversation.objects.select_related("assistant", "folder", "widget")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    return conversation


@dataclass(frozen=True)
class SourceView:
    title: str
    url: str  # http(s) only, else ""
    page: int | None
    snippet: str


@dataclass(frozen=True)
class ToolCallView:
    name: str
    arguments: str
    result: str
    error_code: str
    ok: bool | None
    duration_ms: float | None


@dataclass(frozen=True)
class MessageView:
    """A message as the page shows it: stored JSON read defensively, links only http(s)."""

    message: Message
    sources: list[SourceView]
    tool_calls: list[ToolCallView]


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _http_url(value: Any) -> str:
    url = value.strip() if isinstance(value, str) else ""
    return url if url.lower().startswith(("https://", "http://")) else ""


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def message_view(message: Message) -> MessageView:
    sources = [
        SourceView(
            title=_text(item.get("title") or item.get("url") or "Source", 200),
            url=_http_url(item.get("url")),
            page=_number(item.get("page")),
            snippet=_text(item.get("snippet"), 400),
        )
        for item in (message.sources if isinstance(message.sources, list) else [])
        if isinstance(item, dict)
    ]
    calls = [
        ToolCallView(
            name=_text(item.get("name"), 100),
            arguments=_text(item.get("arguments"), 300),
            result=_text(item.get("summary") or item.get("result"), 400),
            error_code=_text(item.get("error_code"), 64),
            ok=item["ok"] if isinstance(item.get("ok"), bool) else None,
            duration_ms=_number(item.get("duration_ms")),
        )
        for item in (message.tool_calls if isinstance(message.tool_calls, list) else [])
        if isinstance(item, dict)
    ]
    return MessageView(message, sources, calls)


def conversation_messages(*, conversation: Conversation, page: str | None = None) -> Page:
    """Oldest first, ``MESSAGES_PAGE_SIZE`` a page (the full-text vector is not loaded); the
    page's items are ``MessageView``s."""
    messages = (
        Message.objects.filter(conversation=conversation)
        .defer("search")
        .order_by("created_at", "id")
    )
    result = Paginator(messages, MESSAGES_PAGE_SIZE).get_page(page)
    result.object_list = [message_view(message) for message in result.object_list]  # type: ignore[misc]
    return result


def conversation_notes(*, conversation: Conversation) -> list[Note]:
    return list(conversation.notes.order_by("created_at", "id"))


def note_get(*, conversation: Conversation, note_id: int) -> Note:
    note = conversation.notes.filter(pk=note_id).first()
    if note is None:
        raise NotFound("No such note.", code="note_not_found")
    return note


def tag_get(*, tag_id: Any) -> Tag:
    pk = _int(str(tag_id))
    tag = Tag.objects.filter(pk=pk).first() if pk is not None else None
    if tag is None:
        raise NotFound("No such tag.", code="tag_not_found")
    return tag


def folder_get(*, folder_id: Any) -> Folder:
    pk = _int(str(folder_id))
    folder = Folder.objects.filter(pk=pk).first() if pk is not None else None
    if folder is None:
        raise NotFound("No such folder.", code="folder_not_found")
    return folder


def tags_with_counts() -> QuerySet[Tag]:
    return Tag.objects.annotate(conversation_count=Count("conversations")).order_by("name")


def folders_with_counts() -> QuerySet[Folder]:
    return Folder.objects.annotate(conversation_count=Count("conversations")).order_by("name")
