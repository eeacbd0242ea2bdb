"""Backoffice pages for models (providers and their deployments), Ollama and assistants.

Who may do what: viewers, admins and owners read; admins and owners change. Agents work in
conversations only: these pages answer them 404, like non-members, so nothing leaks. Views
check the form's shape, call one service, and render a page or an HTMX fragment; coded service
errors become field errors, never tracebacks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.accounts.selectors import user_has_totp
from apps.core.errors import AppError, NotFound
from apps.core.pagination import paginate
from apps.core.tenancy import acall_in_tenant
from apps.core.views import not_found
from apps.llm import ollama, services
from apps.llm.forms import (
    AssistantForm,
    DeploymentForm,
    OllamaPullForm,
    ProviderEditForm,
    ProviderForm,
    add_service_error,
)
from apps.llm.models import (
    LOCAL_PROVIDER_KINDS,
    Assistant,
    ModelDeployment,
    Provider,
    ProviderKind,
)
from apps.tenants.models import Role
from apps.tenants.permissions import TenantMemberView, mfa_setup_required, role_at_least
from apps.tenants.selectors import membership_for

logger = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD", "OPTIONS")
TEST_PROMPT = "Say hello and name the model you are, in one short sentence."
TEST_MAX_TOKENS = 256


# --- Access ----------------------------------------------------------------------------------------


def may_read(role: str) -> bool:
    return role != Role.AGENT


def may_write(role: str) -> bool:
    return role_at_least(role, Role.ADMIN)


class _RoleGate(View):
    """Runs after ``TenantMemberView`` resolved the membership: agents and, for changes,
    viewers get the same 404 as outsiders."""

    read_role: str = Role.VIEWER
    # An endpoint that only changes things (it may still answer GET, e.g. with the fragment
    # it re-renders): readers get the 404 of outsiders for every method, not a 405.
    write_only: bool = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        role = self.membership.role  # type: ignore[attr-defined]
        allowed = may_read(role) and role_at_least(role, self.read_role)
        if request.method not in READ_METHODS or self.write_only or not hasattr(self, "get"):
            allowed = allowed and may_write(role)
        if not allowed:
            return not_found(request)
        return super().dispatch(request, *args, **kwargs)


class LlmView(TenantMemberView, _RoleGate):
    @property
    def can_write(self) -> bool:
        return may_write(self.membership.role)

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return render(
            self.request, template, {"can_write": self.can_write, **context}, status=status
        )


def provider_get(pk: int) -> Provider:
    provider = Provider.objects.filter(pk=pk).first()
    if provider is None:
        raise NotFound("No such provider.", code="provider_not_found")
    return provider


def ollama_provider_get(pk: int) -> Provider:
    provider = Provider.objects.filter(pk=pk, kind=ProviderKind.OLLAMA).first()
    if provider is None:
        raise NotFound("No such Ollama server.", code="provider_not_found")
    return provider


def deployment_get(pk: int) -> ModelDeployment:
    deployment = ModelDeployment.objects.select_related("provider").filter(pk=pk).first()
    if deployment is None:
        raise NotFound("No such model.", code="model_not_found")
    return deployment


def assistant_get(pk: int) -> Assistant:
    assistant = Assistant.objects.prefetch_related("knowledge_bases").filter(pk=pk).first()
    if assistant is None:
        raise NotFound("No such assistant.", code="assistant_not_found")
    return assistant


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target.startswith("/llm/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return default


# --- Models page: providers and deployments --------------------------------------------------------


def _providers() -> QuerySet[Provider]:
    return Provider.objects.annotate(model_count=Count("deployments")).order_by("name")


def models_page(
    view: LlmView,
    provider_form: ProviderForm | None = None,
    deployment_form: DeploymentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    request = view.request
    deployments = ModelDeployment.objects.select_related("provider").order_by(
        "alias", "priority", "id"
    )
    return view.render(
        "llm/models.html",
        {
            "providers": paginate(request, _providers(), "providers_page"),
            "deployments": paginate(request, deployments),
            "provider_form": provider_form or ProviderForm(initial={"kind": "ollama"}),
            "deployment_form": deployment_form or DeploymentForm(),
            "has_providers": Provider.objects.exists(),
            "stats": _model_stats(),
        },
        status=status,
    )


def provider_page(
    view: LlmView,
    provider: Provider,
    form: ProviderEditForm | None = None,
    deployment_form: DeploymentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return view.render(
        "llm/provider_detail.html",
        {
            "provider": provider,
            "form": form or _provider_edit_form(provider),
            "deployments": paginate(
                view.request, provider.deployments.order_by("alias", "priority", "id")
            ),
            "deployment_form": deployment_form or DeploymentForm(initial={"provider": provider.pk}),
        },
        status=status,
    )


def _provider_edit_form(provider: Provider) -> ProviderEditForm:
    return ProviderEditForm(
        provider=provider,
        initial={
            "name": provider.name,
            "kind": provider.kind,
            "api_base": provider.api_base,
            "timeout_seconds": provider.timeout_seconds,
            "is_enabled": provider.is_enabled,
        },
    )


def _model_stats() -> dict[str, int]:
    deployments = list(ModelDeployment.objects.values_list("alias", "provider__kind"))
    local = sum(1 for _, kind in deployments if kind in LOCAL_PROVIDER_KINDS)
    return {
        "providers": Provider.objects.count(),
        "models": len(deployments),
        "aliases": len({alias for alias, _ in deployments}),
        "local": local,
        "cloud": len(deployments) - local,
    }


class ModelsPageView(LlmView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return models_page(self)


class ProviderCreateView(LlmView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = ProviderForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                provider = services.provider_create(
                    name=data["name"].strip(),
                    kind=data["kind"],
                    api_base=data["api_base"].strip(),
                    api_key=data["api_key"] or "",
                    timeout_seconds=data["timeout_seconds"],
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                hint = " Pull or add its models below." if provider.is_local else ""
                messages.success(request, f"Provider {provider.name} added.{hint}")
                return redirect("llm:provider", pk=provider.pk)
        return models_page(self, provider_form=form, status=400)


class ProviderDetailView(LlmView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return provider_page(self, provider_get(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = provider_get(pk)
        form = ProviderEditForm(request.POST, provider=provider, initial={"kind": provider.kind})
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.provider_update(
                    provider=provider,
                    api_key=form.api_key_change(),
                    name=data["name"].strip(),
                    api_base=data["api_base"].strip(),
                    timeout_seconds=data["timeout_seconds"],
                    is_enabled=data["is_enabled"],
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
                provider.refresh_from_db()
            else:
                messages.success(request, f"Provider {provider.name} saved.")
                return redirect("llm:provider", pk=provider.pk)
        return provider_page(self, provider, form, status=400)


class ProviderDeleteView(LlmView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = provider_get(pk)
        services.provider_delete(provider=provider)
        messages.success(request, f"Provider {provider.name} and its models were deleted.")
        return redirect("llm:models")


class DeploymentCreateView(LlmView):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = DeploymentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                deployment = services.deployment_create(
                    provider=data["provider"],
                    model_name=data["model_name"],
                    alias=data["alias"],
                    priority=data["priority"],
                    context_window=data["context_window"],
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Model {deployment.alias} added ({deployment.provider.name}: "
                    f"{deployment.model_name}). Assistants can use it now.",
                )
                return redirect(_next_url(request, "/llm/models/"))
        provider = form.cleaned_data.get("provider") if hasattr(form, "cleaned_data") else None
        if provider is not None and request.POST.get("next", "").startswith("/llm/providers/"):
            return provider_page(self, provider, deployment_form=form, status=400)
        return models_page(self, deployment_form=form, status=400)


class DeploymentDeleteView(LlmView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        deployment = deployment_get(pk)
        services.deployment_delete(deployment=deployment)
        messages.success(
            request, f"Model {deployment.alias} ({deployment.model_name}) was removed."
        )
        return redirect(_next_url(request, "/llm/models/"))


# --- "Test this model": a streamed reply from an alias ---------------------------------------------

FAILURE_HINTS = {
    "provider_unreachable": "Could not connect. Check the base URL and that the server is running.",
    "provider_timeout": "The provider did not answer within its timeout.",
    "provider_auth": "The provider rejected the API key.",
    "provider_rate_limited": "The provider is rate-limiting this account. Try again shortly.",
    "model_not_found": "The provider does not know this model id.",
    "context_too_long": "The prompt is too long for this model.",
    "provider_error": "The provider answered with an error.",
}


def _line(**data: Any) -> str:
    return json.dumps(data) + "\n"


async def _test_stream(router: Any, groups: list[Any], prompt: str) -> AsyncIterator[str]:
    """NDJSON events: ``start``, ``delta``…, then ``done`` or ``error`` (one per failed group)."""
    from apps.conversations.engine import classify_error

    messages_ = [{"role": "user", "content": prompt}]
    for group in groups:
        started = time.perf_counter()
        try:
            stream = await router.acompletion(
                model=group.name,
                messages=messages_,
                stream=True,
                max_tokens=TEST_MAX_TOKENS,
                temperature=0.2,
            )
            first = await stream.__anext__()
        except StopAsyncIteration:
            yield _line(type="done", ttft_ms=None, ms=0, provider="", model="")
            return
        except Exception as exc:
            failure = classify_error(exc)
            yield _line(
                type="error",
                code=failure.code,
                message=FAILURE_HINTS.get(failure.code, FAILURE_HINTS["provider_error"]),
                providers=", ".join(group.provider_names),
            )
            continue
        hidden = getattr(stream, "_hidden_params", None) or {}
        deployment = router.get_deployment(model_id=hidden.get("model_id") or "")
        info = dict(deployment.model_info or {}) if deployment is not None else {}
        provider = info.get("provider_name") or group.provider_names[0]
        model = info.get("model_name") or group.model_names[0]
        yield _line(type="start", provider=provider, model=model)
        ttft = None
        try:
            async for item in _prepend(first, stream):
                text = item.choices[0].delta.content if item.choices else None
                if text:
                    ttft = ttft or int((time.perf_counter() - started) * 1000)
                    yield _line(type="delta", text=text)
        except Exception as exc:
            failure = classify_error(exc)
            yield _line(
                type="error",
                code=failure.code,
                message="The answer was interrupted: "
                + FAILURE_HINTS.get(failure.code, FAILURE_HINTS["provider_error"]),
                providers=provider,
            )
            return
        ms = int((time.perf_counter() - started) * 1000)
        yield _line(type="done", ttft_ms=ttft, ms=ms, provider=provider, model=model)
        return
    yield _line(type="failed", message="No deployment of this model answered.")


async def _prepend(first: Any, stream: Any) -> AsyncIterator[Any]:
    yield first
    async for item in stream:
        yield item


def _membership(user: Any, tenant: Any) -> Any:
    return membership_for(user=user, tenant=tenant)


def _test_setup(alias: str) -> tuple[Any, list[Any]]:
    from apps.llm.router import tenant_router

    tenant_router_ = tenant_router()
    return tenant_router_.router, list(tenant_router_.groups.get(alias, []))


async def model_test_view(request: HttpRequest) -> HttpResponseBase:
    """POST alias (+ prompt): stream the model's reply as NDJSON into the Models page."""
    tenant = getattr(request, "tenant", None)
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if tenant is None or tenant.schema_name == "public":
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    # The same checks as every backoffice page (TenantMemberView), before anything else.
    membership = await acall_in_tenant(tenant, _membership, user, tenant)
    if membership is None or not may_write(membership.role):
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    if membership.tenant.require_mfa and not await acall_in_tenant(tenant, user_has_totp, user):
        return mfa_setup_required(request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    alias = request.POST.get("alias", "").strip()
    prompt = (request.POST.get("prompt") or "").strip()[:2000] or TEST_PROMPT
    router, groups = await acall_in_tenant(tenant, _test_setup, alias)
    if not groups:
        return JsonResponse(
            {
                "error": {
                    "code": "model_not_found",
                    "message": f"No enabled model is called '{alias}'.",
                }
            },
            status=404,
        )
    response = StreamingHttpResponse(
        _test_stream(router, groups, prompt), content_type="application/x-ndjson"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- Ollama: installed models, pulls with progress, delete -----------------------------------------


class OllamaInstalledView(LlmView):
    """HTMX: the models installed on the server, read live."""

    template = "llm/_ollama_installed.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.installed(ollama_provider_get(pk))

    def installed(self, provider: Provider, **extra: Any) -> HttpResponse:
        try:
            installed = ollama.ollama_models(provider=provider)
            error = None
        except AppError as exc:
            installed, error = [], exc.message
        deployed = set(provider.deployments.values_list("model_name", flat=True))
        rows = [{"model": model, "deployed": model.name in deployed} for model in installed]
        return self.render(
            self.template, {"provider": provider, "rows": rows, "error": error, **extra}
        )


class OllamaPanelView(OllamaInstalledView):
    """HTMX: the whole panel (installed models, pull form, running pulls)."""

    template = "llm/_ollama_panel.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = ollama_provider_get(pk)
        pulls = ollama.pulls_for(provider_id=provider.pk)
        return self.installed(provider, pulls=pulls, polling=any(pull.is_active for pull in pulls))


class OllamaPullsView(LlmView):
    """HTMX: the pulls of one server, polled every second while one is running."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = ollama_provider_get(pk)
        return self.pulls(provider)

    def pulls(self, provider: Provider, error: str = "") -> HttpResponse:
        pulls = ollama.pulls_for(provider_id=provider.pk)
        active = any(pull.is_active for pull in pulls)
        finished_ok = any(pull.status == ollama.PullStatus.SUCCESS for pull in pulls)
        response = self.render(
            "llm/_ollama_pulls.html",
            {"provider": provider, "pulls": pulls, "polling": active, "error": error},
        )
        if not active:
            # Shown once as finished; the next render starts from a clean list.
            ollama.pulls_forget_finished(provider_id=provider.pk)
            if finished_ok:
                response["HX-Trigger"] = "ollama-changed"
        return response


class OllamaPullView(OllamaPullsView):
    write_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = ollama_provider_get(pk)
        form = OllamaPullForm(request.POST)
        if not form.is_valid():
            return self.pulls(provider, error="Enter the name of a model to pull.")
        try:
            ollama.ollama_pull_start(provider=provider, model=form.cleaned_data["model"])
        except AppError as exc:
            return self.pulls(provider, error=exc.message)
        return self.pulls(provider)


class OllamaDeleteView(OllamaInstalledView):
    write_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = ollama_provider_get(pk)
        model = request.POST.get("model", "")
        try:
            ollama.ollama_delete(provider=provider, model=model)
        except AppError as exc:
            return self.installed(provider, notice_error=exc.message)
        return self.installed(provider, notice=f"{model} was deleted from {provider.name}.")


# --- Assistants ----------------------------------------------------------------------------------


class AssistantListView(LlmView):
    def get(self, request: HttpRequest) -> HttpResponse:
        assistants = Assistant.objects.annotate(kb_count=Count("knowledge_bases")).order_by(
            "-is_default", "name"
        )
        return self.render(
            "llm/assistants.html",
            {
                "assistants": paginate(request, assistants),
                "has_models": ModelDeployment.objects.exists(),
            },
        )


def _assistant_initial(assistant: Assistant) -> dict[str, Any]:
    return {
        "name": assistant.name,
        "default_model": assistant.default_model,
        "fallback_models": assistant.fallback_models,
        "allow_cloud_fallback": assistant.allow_cloud_fallback,
        "temperature": assistant.temperature,
        "max_tokens": assistant.max_tokens,
        "history_budget_tokens": assistant.history_budget_tokens,
        "max_tool_steps": assistant.max_tool_steps,
        "retrieval_limit": assistant.retrieval_limit,
        "knowledge_bases": list(assistant.knowledge_bases.all()),
        "system_prompt": assistant.system_prompt,
        "is_default": assistant.is_default,
    }


class AssistantCreateView(LlmView):
    read_role = Role.ADMIN
    template = "llm/assistant_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = AssistantForm(initial={"temperature": 0.3})
        return self.render(self.template, {"form": form, "assistant": None})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AssistantForm(request.POST)
        if form.is_valid():
            try:
                assistant = services.assistant_create(
                    name=form.cleaned_data["name"].strip(),
                    is_default=form.cleaned_data["is_default"],
                    **form.service_fields(),
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Assistant {assistant.name} created.")
                return redirect("llm:assistants")
        return self.render(self.template, {"form": form, "assistant": None}, status=400)


class AssistantEditView(LlmView):
    template = "llm/assistant_form.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        assistant = assistant_get(pk)
        form = AssistantForm(initial=_assistant_initial(assistant), assistant=assistant)
        if not self.can_write:
            for field in form.fields.values():
                field.disabled = True
        return self.render(self.template, {"form": form, "assistant": assistant})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        assistant = assistant_get(pk)
        form = AssistantForm(request.POST, assistant=assistant)
        if form.is_valid():
            try:
                services.assistant_update(
                    assistant=assistant,
                    name=form.cleaned_data["name"].strip(),
                    is_default=form.cleaned_data["is_default"],
                    **form.service_fields(),
                )
            except (AppError, ValidationError) as exc:
                add_service_error(form, exc)
                assistant.refresh_from_db()
            else:
                messages.success(request, f"Assistant {assistant.name} saved.")
                return redirect("llm:assistants")
        return self.render(self.template, {"form": form, "assistant": assistant}, status=400)


class AssistantDefaultView(LlmView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        assistant = assistant_get(pk)
        services.assistant_update(assistant=assistant, is_default=True)
        messages.success(request, f"{assistant.name} is now the default assistant.")
        return redirect("llm:assistants")


class AssistantDeleteView(LlmView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        assistant = assistant_get(pk)
        services.assistant_delete(assistant=assistant)
        messages.success(request, f"Assistant {assistant.name} was deleted.")
        return redirect("llm:assistants")
