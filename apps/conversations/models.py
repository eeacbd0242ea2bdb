"""Conversations and their messages (tenant data)."""

from __future__ import annotations

import uuid

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Func
from django.db.models.functions import Lower

# Full-text search of message text: one configuration for the stored vector, its GIN index
# and every query (apps.conversations.selectors), so that the index is always usable.
SEARCH_CONFIG = "english"


class WordPairs(Func):
    """The pairs of adjacent words of a text, stemmed, as lexemes ("return valu"): a GIN index
    on them lets a phrase search find candidate messages without reading every message that
    merely holds all the words (a GIN index on a tsvector has no word positions). The SQL
    function is created by migration 0004 (in each tenant schema)."""

    function = "conversations_word_pairs"
    output_field = SearchVectorField()


class Channel(models.TextChoices):
    WIDGET = "widget", "Widget"
    API = "api", "API"
    BACKOFFICE = "backoffice", "Backoffice"
    CLI = "cli", "Command line"


class TagColour(models.TextChoices):
    """A fixed palette: colours are CSS classes, never values written into a style."""

    GREY = "grey", "Grey"
    RED = "red", "Red"
    ORANGE = "orange", "Orange"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"
    TEAL = "teal", "Teal"
    BLUE = "blue", "Blue"
    PURPLE = "purple", "Purple"
    PINK = "pink", "Pink"


class Tag(models.Model):
    """A label staff put on conversations (this tenant's own set)."""

    name = models.CharField(max_length=40)
    colour = models.CharField(max_length=16, choices=TagColour.choices, default=TagColour.GREY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class Folder(models.Model):
    """Where staff file conversations; a conversation is in at most one folder."""

    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="folder_unique_name")]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assistant = models.ForeignKey(
        "llm.Assistant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    widget = models.ForeignKey(
        "widgets.Widget", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # The widget's anonymous session id (localStorage), the only key a visitor holds.
    visitor_session = models.CharField(max_length=64, blank=True, db_index=True)
    # Set only from a verified identity (HMAC or JWT signed by the tenant's backend).
    visitor_id = models.CharField(max_length=255, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Curation by staff. People live in the public schema: keep their id and a label.
    flagged = models.BooleanField(default=False)
    flagged_at = models.DateTimeField(null=True, blank=True)
    flagged_by_id = models.BigIntegerField(null=True, blank=True)
    flagged_by_label = models.CharField(max_length=254, blank=True)
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")

    class Meta:
        ordering = ["-last_message_at", "-created_at"]
        indexes = [
            # The backoffice list: newest activity first, with a stable tie-break (it
            # replaces the plain index on last_message_at); flagged ones are a few, indexed
            # on their own.
            models.Index(fields=["-last_message_at", "-id"], name="conversation_activity"),
            models.Index(
                fields=["-last_message_at", "-id"],
                condition=models.Q(flagged=True),
                name="conversation_flagged_activity",
            ),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class MessageStatus(models.TextChoices):
    COMPLETE = "complete", "Complete"
    STREAMING = "streaming", "Streaming"
    INCOMPLETE = "incomplete", "Incomplete"  # the stream died (crash, disconnect, error)
    STOPPED = "stopped", "Stopped"  # the visitor pressed stop


class Rating(models.TextChoices):
    UP = "up", "Helpful"
    DOWN = "down", "Not helpful"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    # Idempotency key from the client (widget retries never create a second message).
    client_id = models.CharField(max_length=64, blank=True)
    sources = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    notice = models.CharField(max_length=300, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    # Accounting (assistant messages).
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    retrieval_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    # Streaming: the last sequence number whose text is included in ``content``.
    seq = models.PositiveIntegerField(default=0)
    rating = models.CharField(max_length=8, choices=Rating.choices, blank=True)
    rating_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The text's full-text vector, computed by PostgreSQL on every write (the engine's raw
    # INSERTs included). Stored, not only indexed, so that checking one conversation's
    # messages against a query reads the vector instead of re-parsing the text: the list's
    # search walks conversations newest first and checks each (see selectors). Defer it when
    # loading messages to show them.
    search = models.GeneratedField(
        expression=SearchVector("content", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_unique_client_id",
            ),
            # One answer at a time per conversation: this is what serialises turns (two tabs,
            # a retried request); see services.turn_begin.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status="streaming"),
                name="message_one_streaming_reply",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            GinIndex(fields=["search"], name="message_search"),
            GinIndex(WordPairs("content"), name="message_word_pairs"),
            # Rated answers are a few percent of all messages: partial indexes keep the
            # "rated up / down / not rated" filter and feedback statistics small and fast.
            models.Index(
                fields=["conversation", "rating"],
                condition=~models.Q(rating=""),
                name="message_rated_conversation",
            ),
            models.Index(
                fields=["created_at", "rating"],
                condition=~models.Q(rating=""),
                name="message_rated_created",
            ),
            # The dashboard's "questions the assistant could not answer": answers with a
            # notice or an error, rated down, or without sources. Few in a healthy tenant, so
            # the partial index keeps that list instant instead of walking the whole window.
            models.Index(
                fields=["created_at"],
                condition=models.Q(role="assistant")
                & (
                    ~models.Q(notice="")
                    | ~models.Q(error_code="")
                    | models.Q(rating="down")
                    | models.Q(sources=[])
                ),
                name="message_needs_attention",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class Note(models.Model):
    """A private note by staff on a conversation: never shown to visitors, never sent to a
    model, never exported."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author_id = models.BigIntegerField(null=True, blank=True)
    author_label = models.CharField(max_length=254, blank=True)
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_conversation")]

    def __str__(self) -> str:
        return f"{self.author_label}: {self.body[:40]}"
