"""The dashboard's figures (reads on the current tenant schema) and its bar chart.

Every figure is one aggregate query over a time window that an index on ``created_at``
bounds (the last 30 days, or the last 5 minutes for visitors online); nothing loops over
rows in Python. ``dashboard_figures`` runs 5 queries in all:

1. conversations started per day (``Conversation.created_at``),
2. messages, tokens, cost and ratings, grouped by role and model (``Message.created_at``),
3. the latest feedback comments,
4. the latest answers that need attention, each with the question before it (a correlated
   subquery on ``Message (conversation, created_at)``),
5. distinct visitor sessions with a message in the last 5 minutes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.formats import date_format

from apps.conversations.models import Conversation, Message, MessageStatus, Rating, Role

WINDOW_DAYS = 30
ACTIVE_WINDOW = timedelta(minutes=5)
ATTENTION_LIMIT = 10
COMMENT_LIMIT = 5


# --- Conversations per day ----------------------------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


def window_start(*, today: date, days: int = WINDOW_DAYS) -> datetime:
    """Midnight (current time zone) at the start of the first of the last ``days`` days."""
    first = today - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first, time.min))


def conversations_per_day(*, today: date, days: int = WINDOW_DAYS) -> list[DayCount]:
    """One count per day, oldest first, days without conversations included as 0."""
    rows = (
        Conversation.objects.filter(created_at__gte=window_start(today=today, days=days))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["day"]: row["n"] for row in rows}
    first = today - timedelta(days=days - 1)
    return [
        DayCount(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]


# --- Messages, tokens, cost and ratings ----------------------------------------------------------


@dataclass(frozen=True)
class ModelUsage:
    model: str
    answers: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Usage:
    messages: int = 0
    questions: int = 0
    answers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    thumbs_up: int = 0
    thumbs_down: int = 0
    models: list[ModelUsage] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def rated(self) -> int:
        return self.thumbs_up + self.thumbs_down

    @property
    def helpful_percent(self) -> int | None:
        return round(100 * self.thumbs_up / self.rated) if self.rated else None

    @property
    def unhelpful_percent(self) -> int | None:
        helpful = self.helpful_percent
        return None if helpful is None else 100 - helpful


def message_usage(*, since: datetime) -> Usage:
    """Totals since ``since`` from one grouped query (one row per role and model)."""
    rows = list(
        Message.objects.filter(created_at__gte=since)
        .values("role", "model")
        .annotate(
            n=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost=Sum("cost_usd"),
            up=Count("id", filter=Q(rating=Rating.UP)),
            down=Count("id", filter=Q(rating=Rating.DOWN)),
        )
        .order_by()
    )
    answers = [row for row in rows if row["role"] == Role.ASSISTANT]
    models = sorted(
        (
            ModelUsage(
                model=row["model"],
                answers=row["n"],
                prompt_tokens=row["prompt"] or 0,
                completion_tokens=row["completion"] or 0,
                cost_usd=row["cost"] or Decimal(0),
            )
            for row in answers
        ),
        key=lambda usage: (-usage.cost_usd, -usage.total_tokens, usage.model),
    )
    return Usage(
        messages=sum(row["n"] for row in rows),
        questions=sum(row["n"] for row in rows if row["role"] == Role.USER),
        answers=sum(row["n"] for row in answers),
        prompt_tokens=sum(usage.prompt_tokens for usage in models),
        completion_tokens=sum(usage.completion_tokens for usage in models),
        cost_usd=sum((usage.cost_usd for usage in models), Decimal(0)),
        thumbs_up=sum(row["up"] for row in rows),
        thumbs_down=sum(row["down"] for row in rows),
        models=models,
    )


def feedback_comments(*, since: datetime, limit: int = COMMENT_LIMIT) -> list[Mapping[str, Any]]:
    """The latest rated answers that carry a comment."""
    return list(
        Message.objects.filter(created_at__gte=since, role=Role.ASSISTANT)
        .exclude(rating="")
        .exclude(rating_comment="")
        .order_by("-created_at")
        .values("conversation_id", "rating", "rating_comment", "created_at")[:limit]
    )


# --- Questions the assistant could not answer ----------------------------------------------------


@dataclass(frozen=True)
class Unanswered:
    conversation_id: Any
    question: str
    answered_at: datetime
    reasons: list[str]


def _reasons(row: Mapping[str, Any]) -> list[str]:
    reasons = []
    if row["rating"] == Rating.DOWN:
        reasons.append("Rated not helpful")
    if row["error_code"]:
        reasons.append(f"Failed: {row['error_code']}")
    if row["notice"] and not row["error_code"]:
        reasons.append(row["notice"])
    if not reasons:
        reasons.append("No matching source")
    return reasons


def unanswered_questions(*, since: datetime, limit: int = ATTENTION_LIMIT) -> list[Unanswered]:
    """The latest answers that failed, went offline, found no source although the assistant
    has knowledge bases, or were rated down, each with the visitor's question before it."""
    question = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            role=Role.USER,
            created_at__lte=OuterRef("created_at"),
        )
        .order_by("-created_at")
        .values("content")[:1]
    )
    has_knowledge = Exists(
        Conversation.objects.filter(
            pk=OuterRef("conversation_id"), assistant__knowledge_bases__isnull=False
        )
    )
    needs_attention = (
        ~Q(notice="")
        | ~Q(error_code="")
        | Q(rating=Rating.DOWN)
        | (Q(sources=[]) & Q(has_knowledge=True))
    )
    rows = (
        Message.objects.filter(created_at__gte=since, role=Role.ASSISTANT)
        .exclude(status=MessageStatus.STREAMING)
        .alias(has_knowledge=has_knowledge)
        .filter(needs_attention)
        .annotate(question=Subquery(question))
        .order_by("-created_at")
        .values("conversation_id", "created_at", "notice", "error_code", "rating", "question")[
            :limit
        ]
    )
    return [
        Unanswered(
            conversation_id=row["conversation_id"],
            question=row["question"] or "",
            answered_at=row["created_at"],
            reasons=_reasons(row),
        )
        for row in rows
    ]


def active_visitors(*, now: datetime) -> int:
    """Distinct widget visitor sessions that sent a message in the last 5 minutes."""
    return (
        Message.objects.filter(created_at__gte=now - ACTIVE_WINDOW, role=Role.USER)
        .exclude(conversation__visitor_session="")
        .aggregate(n=Count("conversation__visitor_session", distinct=True))["n"]
    )


# --- The bar chart (server-side SVG) -------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    count: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class XLabel:
    x: float
    day: date


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    x_labels: list[XLabel]
    points: list[DayCount]
    total: int
    peak: DayCount | None
    description: str
    axis_x: int = 0
    label_y: int = 0

    @property
    def first_day(self) -> date | None:
        return self.points[0].day if self.points else None

    @property
    def last_day(self) -> date | None:
        return self.points[-1].day if self.points else None

    @property
    def center_x(self) -> float:
        return (self.plot_left + self.plot_right) / 2

    @property
    def center_y(self) -> float:
        return self.baseline / 2


CHART_WIDTH, CHART_HEIGHT = 720, 220
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 40, 712, 12, 192
MAX_TICKS = 4


def tick_step(peak: int) -> int:
    """The smallest 1-2-5 step that covers ``peak`` in at most ``MAX_TICKS`` steps."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(peak / step) <= MAX_TICKS:
                return step
        magnitude *= 10


def bar_chart(points: list[DayCount]) -> BarChart:
    peak_point = max(points, key=lambda p: p.count, default=None)
    peak = peak_point.count if peak_point else 0
    step = tick_step(max(peak, 1))
    top = step * max(math.ceil(peak / step), 1)
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(points), 1)
    bar_width = round(slot * 0.68, 2)
    bars = []
    for i, point in enumerate(points):
        height = plot_height * point.count / top
        if point.count:
            height = max(height, 2.0)  # a day with one conversation among thousands stays visible
        bars.append(
            Bar(
                x=round(PLOT_LEFT + i * slot + (slot - bar_width) / 2, 2),
                y=round(PLOT_BOTTOM - height, 2),
                width=bar_width,
                height=round(height, 2),
                day=point.day,
                count=point.count,
            )
        )
    ticks = [
        Tick(y=round(PLOT_BOTTOM - plot_height * value / top, 2), value=value)
        for value in range(0, top + 1, step)
    ]
    # Label today and every 7th day before it.
    x_labels = [
        XLabel(x=round(PLOT_LEFT + i * slot + slot / 2, 2), day=points[i].day)
        for i in range(len(points) - 1, -1, -7)
    ]
    total = sum(p.count for p in points)
    return BarChart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        baseline=PLOT_BOTTOM,
        bars=bars,
        ticks=ticks,
        x_labels=x_labels,
        points=points,
        total=total,
        peak=peak_point if peak else None,
        description=_describe(points, total, peak_point if peak else None),
        axis_x=PLOT_LEFT - 6,
        label_y=CHART_HEIGHT - 8,
    )


def _describe(points: list[DayCount], total: int, peak: DayCount | None) -> str:
    if not points:
        return "No data."
    span = f"from {date_format(points[0].day, 'M j')} to {date_format(points[-1].day, 'M j')}"
    if peak is None:
        return f"Conversations started per day {span}: none yet."
    plural = "s" if total != 1 else ""
    return (
        f"Conversations started per day {span}: {total} conversation{plural} in all; "
        f"the busiest day was {date_format(peak.day, 'M j')} with {peak.count}."
    )


# --- Everything the page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardFigures:
    since: datetime
    chart: BarChart
    usage: Usage
    comments: list[Mapping[str, Any]]
    unanswered: list[Unanswered]
    active_visitors: int


def dashboard_figures(*, now: datetime | None = None) -> DashboardFigures:
    """The dashboard of the current tenant (5 queries)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    since = window_start(today=today)
    return DashboardFigures(
        since=since,
        chart=bar_chart(conversations_per_day(today=today)),
        usage=message_usage(since=since),
        comments=feedback_comments(since=since),
        unanswered=unanswered_questions(since=since),
        active_visitors=active_visitors(now=now),
    )
