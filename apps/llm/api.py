"""Tenant REST API for providers, models (deployments) and assistants, under ``/api/v1/``.

Authenticated by a tenant API key (``Authorization: Bearer sk_...``); the key, not the host,
decides the tenant (``ApiKeyAuthentication`` sets the schema). Reads need the ``read`` scope,
changes ``write`` (``admin`` allows both; ``write`` implies ``read``). An object of another
tenant is simply not in this schema: missing and foreign give the same 404.

One view per operation, each with its nested ``InputSerializer`` and ``OutputSerializer``
(HackSoft style). REST puts several operations on one URL (``GET`` and ``POST`` on
``/providers/``), so a resource class only combines operation classes, one HTTP method each.
Handlers name their serializers through their own class, never ``self``, so that combining
them cannot swap one operation's serializer for another's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from apps.core.errors import NotFound
from apps.core.pagination import ApiPagination
from apps.knowledge.models import KnowledgeBase
from apps.llm import services
from apps.llm.models import Assistant, ModelDeployment, Provider, ProviderKind

# --- Authentication, scopes, errors ----------------------------------------------------------------


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How Swagger UI and the schema describe the tenant API key."""

    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "tenantApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sk_<prefix>_<secret>",
            "description": "A tenant API key (`manage.py create_api_key`).",
        }


class HasKeyScope(BasePermission):
    """``read`` (or ``write``) for safe methods, ``write`` for changes; ``admin`` for all."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request.user
        if not isinstance(principal, ApiKeyPrincipal):
            return False
        needed = "read" if request.method in SAFE_METHODS else "write"
        allowed = principal.has_scope(needed) or (needed == "read" and principal.has_scope("write"))
        if not allowed:
            self.message = f"This API key lacks the '{needed}' scope."
        return allowed


class TenantApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasKeyScope]


@contextmanager
def model_errors_as_validation() -> Iterator[None]:
    """A model's ``full_clean`` error (inside a service) becomes the API's field errors."""
    try:
        yield
    except DjangoValidationError as exc:
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        raise serializers.ValidationError(detail) from None


def paginated(
    request: Request, view: APIView, queryset: QuerySet[Any], serializer: type
) -> Response:
    paginator = ApiPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


def page_of(serializer: type, name: str) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Items per page (default 50)."),
    OpenApiParameter("offset", int, description="Items to skip."),
]


def _one[M: Model](queryset: QuerySet[M], pk: int, what: str) -> M:
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No {what} with id {pk}.", code=f"{what}_not_found")
    return found


# --- Providers -------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Provider")
class ProviderOutput(serializers.ModelSerializer):
    is_local = serializers.BooleanField(read_only=True)
    has_api_key = serializers.SerializerMethodField()

    class Meta:
        model = Provider
        fields = [
            "id",
            "name",
            "kind",
            "api_base",
            "api_key_last4",
            "has_api_key",
            "timeout_seconds",
            "is_enabled",
            "is_local",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_api_key(self, provider: Provider) -> bool:
        return bool(provider.api_key)


class ProviderListApi(TenantApi):
    OutputSerializer = ProviderOutput

    @extend_schema(
        tags=["providers"],
        operation_id="providers_list",
        summary="List providers",
        parameters=PAGE_PARAMETERS,
        responses=page_of(ProviderOutput, "PaginatedProviders"),
    )
    def get(self, request: Request) -> Response:
        return paginated(
            request, self, Provider.objects.order_by("name"), ProviderListApi.OutputSerializer
        )


class ProviderCreateApi(TenantApi):
    @extend_schema_serializer(component_name="ProviderCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=ProviderKind.choices)
        api_base = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )
        api_key = serializers.CharField(
            write_only=True, required=False, allow_blank=True, default="", max_length=500
        )
        timeout_seconds = serializers.IntegerField(
            min_value=1, max_value=600, required=False, default=60
        )

    OutputSerializer = ProviderOutput

    @extend_schema(
        tags=["providers"],
        operation_id="providers_create",
        summary="Add a provider",
        description="`api_key` is write-only: responses show `api_key_last4` only.",
        request=InputSerializer,
        responses={201: ProviderOutput},
    )
    def post(self, request: Request) -> Response:
        serializer = ProviderCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with model_errors_as_validation():
            provider = services.provider_create(**serializer.validated_data)
        return Response(
            ProviderCreateApi.OutputSerializer(provider).data, status=status.HTTP_201_CREATED
        )


class ProviderDetailApi(TenantApi):
    OutputSerializer = ProviderOutput

    @extend_schema(
        tags=["providers"],
        operation_id="providers_retrieve",
        summary="Get a provider",
        responses=ProviderOutput,
    )
    def get(self, request: Request, pk: int) -> Response:
        provider = _one(Provider.objects.all(), pk, "provider")
        return Response(ProviderDetailApi.OutputSerializer(provider).data)


class ProviderUpdateApi(TenantApi):
    @extend_schema_serializer(component_name="ProviderUpdate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        api_base = serializers.CharField(max_length=200, required=False, allow_blank=True)
        api_key = serializers.CharField(
            write_only=True,
            required=False,
            allow_blank=True,
            max_length=500,
            help_text="Omit to keep the stored key; an empty string removes it.",
        )
        timeout_seconds = serializers.IntegerField(min_value=1, max_value=600, required=False)
        is_enabled = serializers.BooleanField(required=False)

    OutputSerializer = ProviderOutput

    @extend_schema(
        tags=["providers"],
        operation_id="providers_partial_update",
        summary="Change a provider",
        request=InputSerializer,
        responses=ProviderOutput,
    )
    def patch(self, request: Request, pk: int) -> Response:
        provider = _one(Provider.objects.all(), pk, "provider")
        serializer = ProviderUpdateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        api_key = fields.pop("api_key", None)
        with model_errors_as_validation():
            provider = services.provider_update(provider=provider, api_key=api_key, **fields)
        return Response(ProviderUpdateApi.OutputSerializer(provider).data)


class ProviderDeleteApi(TenantApi):
    @extend_schema(
        tags=["providers"],
        operation_id="providers_destroy",
        summary="Delete a provider and its models",
        responses={204: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.provider_delete(provider=_one(Provider.objects.all(), pk, "provider"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProvidersResource(ProviderListApi, ProviderCreateApi):
    """``GET`` lists, ``POST`` creates."""


class ProviderResource(ProviderDetailApi, ProviderUpdateApi, ProviderDeleteApi):
    """``GET`` reads, ``PATCH`` changes, ``DELETE`` removes."""


# --- Models (deployments) --------------------------------------------------------------------------


@extend_schema_serializer(component_name="Model")
class DeploymentOutput(serializers.ModelSerializer):
    provider_name = serializers.CharField(source="provider.name", read_only=True)
    is_local = serializers.BooleanField(source="provider.is_local", read_only=True)

    class Meta:
        model = ModelDeployment
        fields = [
            "id",
            "alias",
            "model_name",
            "provider",
            "provider_name",
            "priority",
            "is_local",
            "context_window",
            "supports_tools",
            "is_enabled",
            "created_at",
        ]
        read_only_fields = fields


class DeploymentListApi(TenantApi):
    OutputSerializer = DeploymentOutput

    @extend_schema(
        tags=["models"],
        operation_id="models_list",
        summary="List models",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("alias", str, description="Only deployments of this alias."),
            OpenApiParameter("provider", int, description="Only models of this provider id."),
        ],
        responses=page_of(DeploymentOutput, "PaginatedModels"),
    )
    def get(self, request: Request) -> Response:
        queryset = ModelDeployment.objects.select_related("provider").order_by(
            "alias", "priority", "id"
        )
        if request.query_params.get("alias"):
            queryset = queryset.filter(alias=request.query_params["alias"])
        provider = request.query_params.get("provider", "")
        if provider:
            if not provider.isdigit():
                raise serializers.ValidationError({"provider": ["Must be a provider id."]})
            queryset = queryset.filter(provider_id=int(provider))
        return paginated(request, self, queryset, DeploymentListApi.OutputSerializer)


class DeploymentCreateApi(TenantApi):
    @extend_schema_serializer(component_name="ModelCreate")
    class InputSerializer(serializers.Serializer):
        provider = serializers.IntegerField(help_text="The provider's id.")
        model_name = serializers.CharField(max_length=200, help_text="The provider's model id.")
        alias = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        priority = serializers.IntegerField(
            min_value=0, max_value=100, required=False, allow_null=True, default=None
        )
        context_window = serializers.IntegerField(
            min_value=1, required=False, allow_null=True, default=None
        )
        supports_tools = serializers.BooleanField(required=False, default=True)

        def validate_provider(self, value: int) -> Provider:
            provider = Provider.objects.filter(pk=value).first()
            if provider is None:
                raise serializers.ValidationError(f"No provider with id {value}.")
            return provider

    OutputSerializer = DeploymentOutput

    @extend_schema(
        tags=["models"],
        operation_id="models_create",
        summary="Add a model to a provider",
        request=InputSerializer,
        responses={201: DeploymentOutput},
    )
    def post(self, request: Request) -> Response:
        serializer = DeploymentCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with model_errors_as_validation():
            deployment = services.deployment_create(**serializer.validated_data)
        return Response(
            DeploymentCreateApi.OutputSerializer(deployment).data, status=status.HTTP_201_CREATED
        )


class DeploymentDetailApi(TenantApi):
    OutputSerializer = DeploymentOutput

    @extend_schema(
        tags=["models"],
        operation_id="models_retrieve",
        summary="Get a model",
        responses=DeploymentOutput,
    )
    def get(self, request: Request, pk: int) -> Response:
        deployment = _one(ModelDeployment.objects.select_related("provider"), pk, "model")
        return Response(DeploymentDetailApi.OutputSerializer(deployment).data)


class DeploymentDeleteApi(TenantApi):
    @extend_schema(
        tags=["models"],
        operation_id="models_destroy",
        summary="Remove a model",
        responses={204: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.deployment_delete(deployment=_one(ModelDeployment.objects.all(), pk, "model"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentsResource(DeploymentListApi, DeploymentCreateApi):
    """``GET`` lists, ``POST`` creates."""


class DeploymentResource(DeploymentDetailApi, DeploymentDeleteApi):
    """``GET`` reads, ``DELETE`` removes."""


# --- Assistants ------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Assistant")
class AssistantOutput(serializers.ModelSerializer):
    knowledge_bases: serializers.PrimaryKeyRelatedField[KnowledgeBase] = (
        serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    )

    class Meta:
        model = Assistant
        fields = [
            "id",
            "name",
            "is_default",
            "system_prompt",
            "default_model",
            "fallback_models",
            "allow_cloud_fallback",
            "temperature",
            "max_tokens",
            "history_budget_tokens",
            "max_tool_steps",
            "retrieval_limit",
            "knowledge_bases",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AssistantSettings(serializers.Serializer):
    """The settings an assistant create or update may carry (all optional)."""

    system_prompt = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    default_model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    fallback_models = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=20
    )
    allow_cloud_fallback = serializers.BooleanField(required=False)
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, required=False)
    max_tokens = serializers.IntegerField(min_value=1, max_value=200_000, required=False)
    history_budget_tokens = serializers.IntegerField(
        min_value=0, max_value=1_000_000, required=False
    )
    max_tool_steps = serializers.IntegerField(min_value=0, max_value=20, required=False)
    retrieval_limit = serializers.IntegerField(min_value=0, max_value=50, required=False)
    knowledge_bases = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Knowledge base ids."
    )
    is_default = serializers.BooleanField(
        required=False, help_text="true makes this the tenant's default assistant."
    )

    def validate_knowledge_bases(self, value: list[int]) -> list[KnowledgeBase]:
        found = {kb.pk: kb for kb in KnowledgeBase.objects.filter(pk__in=value)}
        missing = [str(pk) for pk in value if pk not in found]
        if missing:
            raise serializers.ValidationError(f"No knowledge base with id {', '.join(missing)}.")
        return [found[pk] for pk in dict.fromkeys(value)]


class AssistantListApi(TenantApi):
    OutputSerializer = AssistantOutput

    @extend_schema(
        tags=["assistants"],
        operation_id="assistants_list",
        summary="List assistants",
        parameters=PAGE_PARAMETERS,
        responses=page_of(AssistantOutput, "PaginatedAssistants"),
    )
    def get(self, request: Request) -> Response:
        queryset = Assistant.objects.prefetch_related("knowledge_bases").order_by("name")
        return paginated(request, self, queryset, AssistantListApi.OutputSerializer)


class AssistantCreateApi(TenantApi):
    @extend_schema_serializer(component_name="AssistantCreate")
    class InputSerializer(AssistantSettings):
        name = serializers.CharField(max_length=100)

    OutputSerializer = AssistantOutput

    @extend_schema(
        tags=["assistants"],
        operation_id="assistants_create",
        summary="Create an assistant",
        description="Model names are aliases configured under /models/.",
        request=InputSerializer,
        responses={201: AssistantOutput},
    )
    def post(self, request: Request) -> Response:
        serializer = AssistantCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with model_errors_as_validation():
            assistant = services.assistant_create(**serializer.validated_data)
        return Response(
            AssistantCreateApi.OutputSerializer(assistant).data, status=status.HTTP_201_CREATED
        )


class AssistantDetailApi(TenantApi):
    OutputSerializer = AssistantOutput

    @extend_schema(
        tags=["assistants"],
        operation_id="assistants_retrieve",
        summary="Get an assistant",
        responses=AssistantOutput,
    )
    def get(self, request: Request, pk: int) -> Response:
        assistant = _one(Assistant.objects.prefetch_related("knowledge_bases"), pk, "assistant")
        return Response(AssistantDetailApi.OutputSerializer(assistant).data)


class AssistantUpdateApi(TenantApi):
    @extend_schema_serializer(component_name="AssistantUpdate")
    class InputSerializer(AssistantSettings):
        name = serializers.CharField(max_length=100, required=False)

    OutputSerializer = AssistantOutput

    @extend_schema(
        tags=["assistants"],
        operation_id="assistants_partial_update",
        summary="Change an assistant",
        request=InputSerializer,
        responses=AssistantOutput,
    )
    def patch(self, request: Request, pk: int) -> Response:
        assistant = _one(Assistant.objects.all(), pk, "assistant")
        serializer = AssistantUpdateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with model_errors_as_validation():
            assistant = services.assistant_update(assistant=assistant, **serializer.validated_data)
        return Response(AssistantUpdateApi.OutputSerializer(assistant).data)


class AssistantDeleteApi(TenantApi):
    @extend_schema(
        tags=["assistants"],
        operation_id="assistants_destroy",
        summary="Delete an assistant",
        description="When it was the default, the first remaining assistant (by name) becomes "
        "the default.",
        responses={204: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.assistant_delete(assistant=_one(Assistant.objects.all(), pk, "assistant"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssistantsResource(AssistantListApi, AssistantCreateApi):
    """``GET`` lists, ``POST`` creates."""


class AssistantResource(AssistantDetailApi, AssistantUpdateApi, AssistantDeleteApi):
    """``GET`` reads, ``PATCH`` changes, ``DELETE`` removes."""
