"""The treasury API: accounts, balance snapshots (one, a list, or a file), buffers, and
lendable inventory per asset. Reads need treasury.view, writes treasury.manage."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from financing import clock
from financing.api.base import IdempotencyMixin, RolePermission, StrictSerializer
from financing.api.base import resolve_code as _resolve
from financing.api.fields import AmountField, StrictBooleanField, StrictIntegerField
from financing.errors import InvalidInput
from financing.refdata.models import Asset, Venue
from treasury import selectors, services
from treasury.models import AccountPurpose, BalanceSnapshot, BufferLevel, TreasuryAccount

MAX_BALANCES_PER_POST = 1000
VIEW, MANAGE = "treasury.view", "treasury.manage"


# ---------------------------------------------------------------- accounts


class AccountSerializer(serializers.ModelSerializer):
    venue = serializers.CharField(source="venue.code")
    asset = serializers.CharField(source="asset.symbol")
    balance = AmountField(read_only=True, allow_null=True)
    balance_as_of = serializers.DateTimeField(read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = TreasuryAccount
        fields = [
            "id",
            "venue",
            "asset",
            "purpose",
            "name",
            "is_active",
            "balance",
            "balance_as_of",
            "created_by",
            "created_at",
        ]


class AccountInSerializer(StrictSerializer):
    venue = serializers.CharField(max_length=32)
    asset = serializers.CharField(max_length=32)
    purpose = serializers.ChoiceField(choices=AccountPurpose.choices)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class AccountUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_active = StrictBooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send name and/or is_active.")
        return attrs


class AccountFilter(django_filters.FilterSet):
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    venue = django_filters.CharFilter(field_name="venue__code", lookup_expr="iexact")
    purpose = django_filters.ChoiceFilter(choices=AccountPurpose.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = TreasuryAccount
        fields = []


class AccountViewSet(
    IdempotencyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Treasury accounts per venue, asset and purpose (lendable, buffer, operational), each with
    its latest balance. PATCH renames an account or takes it out of use."""

    permission_classes = [RolePermission]
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    capabilities = {"list": VIEW, "retrieve": VIEW, "create": MANAGE, "partial_update": MANAGE}

    def get_queryset(self):
        return selectors.balances_latest()

    @extend_schema(request=AccountInSerializer, responses={201: AccountSerializer})
    def create(self, request, *args, **kwargs):
        ser = AccountInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        account = services.treasury_account_create(
            actor=request.user,
            venue=_resolve(Venue, "code", d["venue"], "venue"),
            asset=_resolve(Asset, "symbol", d["asset"], "asset"),
            purpose=d["purpose"],
            name=d["name"],
            now=clock.now(),
        )
        row = selectors.balances_latest().get(pk=account.pk)
        return Response(AccountSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountUpdateSerializer, responses={200: AccountSerializer})
    def partial_update(self, request, *args, **kwargs):
        account = self.get_object()
        ser = AccountUpdateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.treasury_account_update(
            actor=request.user, account=account, now=clock.now(), **ser.validated_data
        )
        return Response(AccountSerializer(selectors.balances_latest().get(pk=account.pk)).data)


# ---------------------------------------------------------------- balances


class BalanceSerializer(serializers.ModelSerializer):
    venue = serializers.CharField(source="account.venue.code")
    asset = serializers.CharField(source="account.asset.symbol")
    purpose = serializers.CharField(source="account.purpose")
    amount = AmountField()
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = BalanceSnapshot
        fields = [
            "id",
            "account",
            "venue",
            "asset",
            "purpose",
            "amount",
            "as_of",
            "source",
            "received_at",
            "created_by",
        ]


class BalanceInSerializer(StrictSerializer):
    account = StrictIntegerField(min_value=1, max_value=2**63 - 1)
    amount = AmountField()
    as_of = serializers.DateTimeField()


class BalanceImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV or XLSX with columns venue, asset, purpose, amount, as_of."
    )


class ImportResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class BalanceFilter(django_filters.FilterSet):
    account = django_filters.NumberFilter(field_name="account_id")
    asset = django_filters.CharFilter(field_name="account__asset__symbol", lookup_expr="iexact")
    venue = django_filters.CharFilter(field_name="account__venue__code", lookup_expr="iexact")
    purpose = django_filters.ChoiceFilter(
        field_name="account__purpose", choices=AccountPurpose.choices
    )
    source = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="as_of", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="as_of", lookup_expr="lte")

    class Meta:
        model = BalanceSnapshot
        fields = []


class BalanceViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Balance snapshots, newest first. POST one `{account, amount, as_of}` or a list of up to
    1000 (all or none); a snapshot already stored with the same amount is a duplicate and
    stores nothing. POST import/ takes a CSV or XLSX file."""

    permission_classes = [RolePermission]
    serializer_class = BalanceSerializer
    filterset_class = BalanceFilter
    capabilities = {"list": VIEW, "create": MANAGE, "import_file": MANAGE}

    def get_queryset(self):
        return BalanceSnapshot.objects.select_related(
            "account__venue", "account__asset", "created_by"
        ).order_by("-as_of", "-id")

    @extend_schema(
        request=BalanceInSerializer(many=True),
        responses={201: BalanceSerializer},
        description="One object answers the stored snapshot; a list answers "
        '{"stored": n, "duplicates": m}.',
    )
    def create(self, request, *args, **kwargs):
        data = request.data
        many = isinstance(data, list)
        if many and not data:
            raise InvalidInput("Send at least one balance.", field="detail")
        if many and len(data) > MAX_BALANCES_PER_POST:
            raise InvalidInput(
                f"At most {MAX_BALANCES_PER_POST} balances per request.", field="detail"
            )
        ser = BalanceInSerializer(data=data, many=many)
        ser.is_valid(raise_exception=True)
        items = ser.validated_data if many else [ser.validated_data]
        accounts = TreasuryAccount.objects.select_related("asset", "venue").in_bulk(
            {i["account"] for i in items}
        )
        rows = []
        for n, item in enumerate(items):
            label = str(n) if many else ""
            account = accounts.get(item["account"])
            if account is None:
                raise InvalidInput(
                    f"Unknown account {item['account']}.",
                    field=f"{label}.account" if many else "account",
                )
            rows.append(services.BalanceInput(account, item["amount"], item["as_of"], label))
        now = clock.now()
        if not many:
            r = rows[0]
            snap = services.balance_record(
                actor=request.user, account=r.account, amount=r.amount, as_of=r.as_of, now=now
            )
            return Response(BalanceSerializer(snap).data, status=status.HTTP_201_CREATED)
        result = services.balances_record(actor=request.user, rows=rows, now=now)
        return Response(result, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": BalanceImportSerializer},
        responses={201: ImportResultSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request):
        """Import balances from a CSV or XLSX file (columns venue, asset, purpose, amount,
        as_of; times without an offset are UTC). All rows or none; errors name the row."""
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("Attach the file as multipart field 'file'.", field="file")
        result = services.balances_import(
            actor=request.user, file_obj=upload, filename=upload.name or "", now=clock.now()
        )
        return Response(result, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- buffers


class BufferSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.symbol")
    venue = serializers.CharField(source="venue.code", default=None)
    minimum = AmountField()
    updated_by = serializers.CharField(source="updated_by.username")

    class Meta:
        model = BufferLevel
        fields = ["id", "asset", "venue", "minimum", "updated_by", "updated_at"]


class BufferInSerializer(StrictSerializer):
    asset = serializers.CharField(max_length=32)
    venue = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
    minimum = AmountField()


class BufferFilter(django_filters.FilterSet):
    asset = django_filters.CharFilter(field_name="asset__symbol", lookup_expr="iexact")
    venue = django_filters.CharFilter(field_name="venue__code", lookup_expr="iexact")

    class Meta:
        model = BufferLevel
        fields = []


class BufferViewSet(IdempotencyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Buffer levels: the minimum of an asset kept unlent, per venue or across venues (venue
    null). POST sets the level of that scope, creating or replacing it."""

    permission_classes = [RolePermission]
    serializer_class = BufferSerializer
    filterset_class = BufferFilter
    capabilities = {"list": VIEW, "create": MANAGE}

    def get_queryset(self):
        return BufferLevel.objects.select_related("asset", "venue", "updated_by")

    @extend_schema(request=BufferInSerializer, responses={201: BufferSerializer})
    def create(self, request, *args, **kwargs):
        ser = BufferInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        row = services.buffer_level_set(
            actor=request.user,
            asset=_resolve(Asset, "symbol", d["asset"], "asset"),
            venue=_resolve(Venue, "code", d["venue"], "venue"),
            minimum=d["minimum"],
            now=clock.now(),
        )
        return Response(BufferSerializer(row).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- lendable


class LendableSerializer(serializers.Serializer):
    asset = serializers.CharField()
    lendable = AmountField()
    buffer = AmountField()
    accounts = serializers.IntegerField()


class LendableViewSet(viewsets.GenericViewSet):
    """Per asset: the latest balances of its active lendable accounts summed (`lendable`) and
    its buffer minimums summed (`buffer`)."""

    permission_classes = [RolePermission]
    serializer_class = LendableSerializer
    pagination_class = None
    filter_backends: list = []
    capabilities = {"list": VIEW}

    @extend_schema(
        responses={
            200: inline_serializer(
                "TreasuryLendableList", {"results": LendableSerializer(many=True)}
            )
        }
    )
    def list(self, request):
        figures = selectors.lendable_by_asset()
        symbols = dict(Asset.objects.filter(pk__in=figures).values_list("pk", "symbol"))
        rows = sorted(
            ({"asset": symbols[pk], **f} for pk, f in figures.items()), key=lambda r: r["asset"]
        )
        return Response({"results": LendableSerializer(rows, many=True).data})
