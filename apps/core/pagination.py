"""Paginating backoffice lists (keeping the page's other query parameters in the links) and
the REST API's lists."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

PAGE_SIZE = 20


def paginate(
    request: HttpRequest, queryset: QuerySet[Any], param: str = "page", per_page: int = PAGE_SIZE
) -> Page:
    page = Paginator(queryset, per_page).get_page(request.GET.get(param))
    query = request.GET.copy()

    def link(number: int) -> str:
        query[param] = str(number)
        return f"?{query.urlencode()}"

    page.prev_url = link(page.previous_page_number()) if page.has_previous() else ""  # type: ignore[attr-defined]
    page.next_url = link(page.next_page_number()) if page.has_next() else ""  # type: ignore[attr-defined]
    return page


class ApiPagination(LimitOffsetPagination):
    """``?limit=&offset=`` for the REST API: a page of 50 by default and 500 at most; a value
    that is not a whole number is a 400 (DRF's own class ignores it), and an offset past any
    real list gives an empty page rather than a database error."""

    default_limit = 50
    max_limit = 500
    max_offset = 2**31 - 1

    def _whole_number(self, request: Any, name: str, default: int, cap: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not (raw.isascii() and raw.isdigit()):
            raise serializers.ValidationError({name: ["Must be a whole number, 0 or more."]})
        return min(int(raw), cap)

    def get_limit(self, request: Any) -> int:
        limit = self._whole_number(
            request, self.limit_query_param, self.default_limit, self.max_limit
        )
        return max(1, limit)

    def get_offset(self, request: Any) -> int:
        return self._whole_number(request, self.offset_query_param, 0, self.max_offset)
