"""REST endpoint of what the stage costs this month (admins only): the cost page's figures."""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.openapi import extend_schema
from ops import costs
from ops.models import StageCost


class CostLineSerializer(serializers.Serializer):
    resource = serializers.CharField(help_text="a function, an API, a state machine, a queue or a bucket")
    usage = serializers.CharField(help_text="what it used this month, as the price counts it")
    soFar = serializers.FloatField(help_text="USD this month so far")
    projected = serializers.FloatField(help_text="USD by the month's end at this month's rate")


class AreaCostSerializer(serializers.Serializer):
    area = serializers.ChoiceField(choices=list(costs.AREA_LABELS))
    label = serializers.CharField()
    soFar = serializers.FloatField()
    projected = serializers.FloatField()
    lines = CostLineSerializer(many=True)


class CostNoteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["arm64", "empty-receives"])
    resource = serializers.CharField()
    text = serializers.CharField()
    saving = serializers.FloatField(help_text="USD this month the lever would save (projected)")


class StageCostSerializer(serializers.Serializer):
    region = serializers.CharField(help_text="whose prices (COST_PRICES) were used")
    monthStart = serializers.DateTimeField()
    asOf = serializers.DateTimeField(help_text="when the figures were read from CloudWatch")
    monthEnd = serializers.DateTimeField()
    soFar = serializers.FloatField(help_text="USD this month so far, every area")
    projected = serializers.FloatField(help_text="USD by the month's end, every area")
    areas = AreaCostSerializer(many=True)
    notes = CostNoteSerializer(many=True, help_text="levers that would pay, the largest saving first")
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="what could not be read, and how it was priced instead"
    )


class StageCostApi(APIView):
    queryset = StageCost.objects.none()

    @extend_schema(operation_id="costs_retrieve", responses={200: StageCostSerializer})
    def get(self, request: Request) -> Response:
        # CloudWatch not answering reaches the API's handler (console.api.rest.aws_problem).
        return Response(StageCostSerializer(costs.report_as_json(costs.stage_costs())).data)
