"""Operations: alarms (to one SNS topic) and the CloudWatch dashboard."""

from __future__ import annotations

import json
from typing import Any

from infra.template.common import getatt, ref, sub
from infra.template.functions import FUNCTIONS


def _alarm(description: str, namespace: str, metric: str, dims: dict[str, Any], **kw: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Statistic": kw.pop("Statistic", "Sum"),
        "Period": kw.pop("Period", 300),
        "EvaluationPeriods": kw.pop("EvaluationPeriods", 1),
        "Threshold": kw.pop("Threshold", 0),
        "ComparisonOperator": kw.pop("ComparisonOperator", "GreaterThanThreshold"),
        "TreatMissingData": kw.pop("TreatMissingData", "notBreaching"),
        "AlarmActions": [*kw.pop("Actions", []), ref("AlarmTopic")],
        "OKActions": [ref("AlarmTopic")],
    }
    props.update(kw)
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def alarm_resources() -> dict[str, Any]:
    r: dict[str, Any] = {**_service_alarms(), **_radius_alarms(), **_hub_alarms(), **_email_alarms()}
    for res in r.values():
        if not res["Properties"]["Dimensions"]:
            del res["Properties"]["Dimensions"]
    return r


def _service_alarms() -> dict[str, Any]:
    r: dict[str, Any] = {}
    for fn in FUNCTIONS:
        r[f"{fn.lid}ErrorsAlarm"] = _alarm(
            f"{fn.lid} failed (docs/operations.md: function errors)",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": ref(fn.lid)},
        )
        r[f"{fn.lid}ThrottlesAlarm"] = _alarm(
            f"{fn.lid} was throttled (docs/operations.md: throttles)",
            "AWS/Lambda",
            "Throttles",
            {"FunctionName": ref(fn.lid)},
        )
    r["ProvisionDeadLetterAlarm"] = _alarm(
        "Provisioning triggers gave up after 5 attempts (docs/operations.md: dead-letter queue)",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": getatt("ProvisionDeadLetterQueue", "QueueName")},
        Statistic="Maximum",
    )
    r["JobsDeadLetterAlarm"] = _alarm(
        "A job's message failed 5 times; the job waits at its checkpoint (docs/operations.md: jobs dead-letter queue)",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": getatt("JobsDeadLetterQueue", "QueueName")},
        Statistic="Maximum",
    )
    r["Api5xxAlarm"] = _alarm(
        "The API answered 5xx (docs/operations.md: API errors)",
        "AWS/ApiGateway",
        "5XXError",
        {"ApiName": sub("${AWS::StackName}-api"), "Stage": "v1"},
        Threshold=5,
    )
    return r


def _radius_alarms() -> dict[str, Any]:
    r: dict[str, Any] = {}
    for name in ("Auth", "Acct"):
        dims = {
            "TargetGroup": getatt(f"Radius{name}TargetGroup", "TargetGroupFullName"),
            "LoadBalancer": getatt("RadiusLoadBalancer", "LoadBalancerFullName"),
        }
        r[f"Radius{name}UnhealthyAlarm"] = _alarm(
            f"A RADIUS task failed its health check ({name.lower()}; docs/operations.md: RADIUS)",
            "AWS/NetworkELB",
            "UnHealthyHostCount",
            dims,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=3,
        )
        r[f"Radius{name}NoHealthyAlarm"] = _alarm(
            f"No healthy RADIUS task ({name.lower()}): every login fails (docs/operations.md: RADIUS)",
            "AWS/NetworkELB",
            "HealthyHostCount",
            dims,
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=2,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="breaching",
            Condition=None,
        )
        del r[f"Radius{name}NoHealthyAlarm"]["Properties"]["Condition"]
        r[f"Radius{name}NoHealthyAlarm"]["Condition"] = "HasRadiusImage"
    return r


def _hub_alarms() -> dict[str, Any]:
    r: dict[str, Any] = {}
    hub = {"InstanceId": ref("VpnHubInstance")}
    r["VpnHubRecoveryAlarm"] = _alarm(
        "The VPN hub's host failed: EC2 recovers the instance (same address and disk; docs/operations.md: VPN hub)",
        "AWS/EC2",
        "StatusCheckFailed_System",
        hub,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Actions=[sub("arn:${AWS::Partition}:automate:${AWS::Region}:ec2:recover")],
    )
    r["VpnHubStatusAlarm"] = _alarm(
        "The VPN hub's system failed its status check: EC2 reboots it (docs/operations.md: VPN hub)",
        "AWS/EC2",
        "StatusCheckFailed_Instance",
        hub,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        Actions=[
            sub(
                "arn:${AWS::Partition}:swf:${AWS::Region}:${AWS::AccountId}:action/actions/AWS_EC2.InstanceId.Reboot/1.0"
            )
        ],
    )
    r["VpnHubSyncAlarm"] = _alarm(
        "The VPN hub stopped pulling its peers (docs/operations.md: VPN hub)",
        "AWS/Lambda",
        "Invocations",
        {"FunctionName": ref("VpnPeersFunction")},
        Period=300,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    return r


def _email_alarms() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["EmailBounceAlarm"] = _alarm(
        "E-mail bounce rate at 5 % (SES reviews the account at 5 %, pauses it at 10 %; docs/operations.md: e-mail)",
        "AWS/SES",
        "Reputation.BounceRate",
        {},
        Statistic="Maximum",
        Period=3600,
        Threshold=0.05,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    r["EmailComplaintAlarm"] = _alarm(
        "E-mail complaint rate at 0.1 % (docs/operations.md: e-mail)",
        "AWS/SES",
        "Reputation.ComplaintRate",
        {},
        Statistic="Maximum",
        Period=3600,
        Threshold=0.001,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    return r


def _widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "stat": stat,
            "period": 300,
            "metrics": metrics,
        },
    }


def _queue_widgets() -> list[dict[str, Any]]:
    return [
        _widget(
            "Provisioning queue",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${ProvisionQueue.QueueName}"],
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${ProvisionDeadLetterQueue.QueueName}",
                ],
            ],
            12,
            6,
            "Maximum",
        ),
        _widget(
            "Jobs queue (exports, bulk actions)",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${JobsQueue.QueueName}"],
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${JobsDeadLetterQueue.QueueName}",
                ],
            ],
            0,
            18,
            "Maximum",
        ),
    ]


def dashboard_body() -> str:
    """CloudWatch dashboard JSON (with ${} references for Fn::Sub)."""
    fn_errors = [["AWS/Lambda", "Errors", "FunctionName", "${" + f.lid + "}"] for f in FUNCTIONS]
    nlb = "${RadiusLoadBalancer.LoadBalancerFullName}"
    widgets = [
        _widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", "Count", "ApiName", "${AWS::StackName}-api", "Stage", "v1"],
                ["AWS/ApiGateway", "4XXError", "ApiName", "${AWS::StackName}-api", "Stage", "v1"],
                ["AWS/ApiGateway", "5XXError", "ApiName", "${AWS::StackName}-api", "Stage", "v1"],
            ],
            0,
            0,
        ),
        _widget(
            "API latency (p95)",
            [["AWS/ApiGateway", "Latency", "ApiName", "${AWS::StackName}-api", "Stage", "v1"]],
            12,
            0,
            "p95",
        ),
        _widget("Function errors", fn_errors, 0, 6),
        *_queue_widgets(),
        _widget(
            "RADIUS healthy tasks",
            [
                [
                    "AWS/NetworkELB",
                    "HealthyHostCount",
                    "TargetGroup",
                    "${RadiusAuthTargetGroup.TargetGroupFullName}",
                    "LoadBalancer",
                    nlb,
                ],
                [
                    "AWS/NetworkELB",
                    "HealthyHostCount",
                    "TargetGroup",
                    "${RadiusAcctTargetGroup.TargetGroupFullName}",
                    "LoadBalancer",
                    nlb,
                ],
            ],
            0,
            12,
            "Minimum",
        ),
        _widget(
            "VPN hub",
            [
                ["AWS/EC2", "StatusCheckFailed", "InstanceId", "${VpnHubInstance}"],
                ["AWS/Lambda", "Invocations", "FunctionName", "${VpnPeersFunction}"],
            ],
            12,
            12,
        ),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def operations_resources() -> dict[str, Any]:
    r: dict[str, Any] = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "WispCloud alarms"}},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": ref("AlarmTopic"),
                "Protocol": "email",
                "Endpoint": ref("AlarmEmail"),
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardBody": sub(dashboard_body())},
        },
    }
    r.update(alarm_resources())
    return r
