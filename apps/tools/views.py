"""Backoffice pages for custom HTTP tools, with a test call."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.connectors.views import AdminView
from apps.core.errors import AppError, NotFound
from apps.tools.forms import HttpToolForm
from apps.tools.models import HttpTool
from apps.tools.registry import ToolContext, tool_run, tools_for_assistant
from apps.tools.services import http_tool_create, http_tool_delete, http_tool_update


def http_tool_get(pk: int) -> HttpTool:
    tool = HttpTool.objects.filter(pk=pk).first()
    if tool is None:
        raise NotFound("No such tool.", code="tool_not_found")
    return tool


class HttpToolListView(AdminView):
    template = "tools/tool_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(HttpToolForm(initial={"is_enabled": True, "method": "GET"}))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = HttpToolForm(request.POST)
        if form.is_valid():
            try:
                tool = http_tool_create(
                    **form.service_fields(),
                    secret_headers=form.cleaned_data["secret_headers"] or {},
                    assistants=form.cleaned_data["assistants"],
                    actor=request.user,
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"HTTP tool {tool.name} created. Try a test call.")
                return redirect("tools:detail", pk=tool.pk)
        return self.page(form, status=400)

    def page(self, form: HttpToolForm, status: int = 200) -> HttpResponse:
        from apps.llm.models import Assistant

        per_assistant = [(a, tools_for_assistant(a)) for a in Assistant.objects.all()]
        return render(
            self.request,
            self.template,
            {
                "tools": HttpTool.objects.prefetch_related("assistants"),
                "form": form,
                "per_assistant": per_assistant,
            },
            status=status,
        )


class HttpToolDetailView(AdminView):
    template = "tools/tool_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        tool = http_tool_get(pk)
        form = HttpToolForm(
            initial={
                "name": tool.name,
                "description": tool.description,
                "method": tool.method,
                "url_template": tool.url_template,
                "allowed_hosts": ", ".join(tool.allowed_hosts),
                "parameters": tool.parameters,
                "headers": "\n".join(f"{k}: {v}" for k, v in tool.headers.items()),
                "body_template": tool.body_template,
                "timeout_seconds": tool.timeout_seconds,
                "max_response_bytes": tool.max_response_bytes,
                "response_fields": ", ".join(tool.response_fields),
                "allow_private_network": tool.allow_private_network,
                "summary_template": tool.summary_template,
                "is_enabled": tool.is_enabled,
                "assistants": list(tool.assistants.all()),
            }
        )
        return self.page(tool, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        tool = http_tool_get(pk)
        form = HttpToolForm(request.POST)
        if form.is_valid():
            try:
                http_tool_update(
                    tool=tool,
                    secret_headers=form.cleaned_data["secret_headers"],
                    assistants=form.cleaned_data["assistants"],
                    actor=request.user,
                    is_enabled=form.cleaned_data["is_enabled"],
                    **form.service_fields(),
                )
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "HTTP tool saved.")
                return redirect("tools:detail", pk=tool.pk)
        return self.page(http_tool_get(pk), form, status=400)

    def page(self, tool: HttpTool, form: HttpToolForm, status: int = 200) -> HttpResponse:
        return render(self.request, self.template, {"tool": tool, "form": form}, status=status)


class HttpToolTestView(AdminView):
    """HTMX: call the tool with the JSON arguments typed in, exactly as the assistant would."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        tool = http_tool_get(pk)
        result = tool_run(
            name=tool.name,
            arguments=request.POST.get("arguments", "").strip() or "{}",
            context=ToolContext(
                visitor_id=request.POST.get("visitor_id", "").strip() or None,
                actor_label=self.actor_label,
            ),
        )
        return render(request, "tools/_result.html", {"result": result})


class HttpToolDeleteView(AdminView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        tool = http_tool_get(pk)
        http_tool_delete(tool=tool, actor=request.user)
        messages.success(request, f"HTTP tool {tool.name} deleted.")
        return redirect("tools:list")
