"""The CloudWatch alarms of the stacks that run the transformation Lambda watch the metrics the
function really emits.

The `ProcessingFailed` alarm reads the function's Embedded Metric Format line, whose namespace,
dimension and metric names are written in `src/telemetry/metrics.rs`: they are parsed from there, so renaming
a metric, the namespace or the dimension on either side (Rust or templates) fails here instead of
leaving an alarm on a metric that never gets data. The other two alarms watch AWS metrics of the
stack's function and delivery stream; with ChangeSource DynamoDBStreams two more watch the pipe:
its failed executions and its dead-letter queue. Where the lake is (single-account and consumer
stacks), one more watches the schema keeper's failed invocations.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_variants import resolve  # noqa: E402

METRICS_RS = ROOT / "src" / "telemetry" / "metrics.rs"
ALARM = "AWS::CloudWatch::Alarm"


def template(name: str) -> dict:
    t, problems = decode(str(ROOT / "cloudformation" / name))
    assert t is not None, problems
    return t


SINGLE, PRODUCER, CONSUMER = (template(f"lake-{n}.yaml") for n in ("single-account", "producer", "consumer"))
WITH_LAMBDA = pytest.mark.parametrize("t", [SINGLE, PRODUCER], ids=["single", "producer"])
WITH_LAKE = pytest.mark.parametrize("t", [SINGLE, CONSUMER], ids=["single", "consumer"])
ALL = pytest.mark.parametrize("t", [SINGLE, PRODUCER, CONSUMER], ids=["single", "producer", "consumer"])


# ------------------------------------------------------------------ what src/telemetry/metrics.rs emits

def emf() -> dict:
    """Namespace, dimension names, declared metrics and the metric carrying the failed-record count."""
    source = METRICS_RS.read_text()
    namespace = re.search(r'pub const NAMESPACE: &str = "([^"]+)";', source)
    assert namespace, "NAMESPACE constant not found in src/telemetry/metrics.rs"
    dimensions = re.search(r'"Dimensions":\s*\[\[([^\]]*)\]\]', source)
    assert dimensions, '"Dimensions" not found in the EMF line of src/telemetry/metrics.rs'
    declared = re.findall(r'metric\("(\w+)",\s*"\w+"\)', source)
    assert declared, "no metric(...) declarations found in src/telemetry/metrics.rs"
    failed = re.findall(r'"(\w+)":\s*self\.processing_failed\b', source)
    assert len(failed) == 1, "expected one EMF member holding self.processing_failed"
    return {
        "namespace": namespace.group(1),
        "dimensions": re.findall(r'"(\w+)"', dimensions.group(1)),
        "metrics": declared,
        "processing_failed": failed[0],
    }


EMF = emf()


def test_metrics_rs_parses_to_what_the_alarm_expects():
    # Guards the regexes above: if these change, src/telemetry/metrics.rs changed and so must the alarms.
    assert EMF["namespace"] == "DdbLake"
    assert EMF["dimensions"] == ["FunctionName"]
    assert EMF["processing_failed"] == "ProcessingFailed"
    assert EMF["processing_failed"] in EMF["metrics"]


# ------------------------------------------------------------------ the templates

def resources(t: dict, type_: str) -> dict[str, dict]:
    return {name: r for name, r in t.get("Resources", {}).items() if r.get("Type") == type_}


def only(t: dict, type_: str) -> str:
    (name,) = resources(t, type_)
    return name


def dimensions(alarm: dict) -> dict[str, object]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def alarm_on(t: dict, namespace: str, metric: str, **dims) -> dict:
    """The one alarm on namespace/metric (whose dimensions include `dims`, when given)."""
    found = [r["Properties"] for r in resources(t, ALARM).values()
             if r["Properties"].get("Namespace") == namespace and r["Properties"].get("MetricName") == metric
             and dims.items() <= dimensions(r["Properties"]).items()]
    assert len(found) == 1, f"expected one alarm on {namespace}/{metric} {dims}, found {len(found)}"
    return found[0]


def transform_function(t: dict) -> str:
    """The transformation Lambda: the function Firehose runs as its processor."""
    (delivery,) = resources(t, "AWS::KinesisFirehose::DeliveryStream").values()
    (processor,) = delivery["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"]
    (arn,) = [p["ParameterValue"] for p in processor["Parameters"] if p["ParameterName"] == "LambdaArn"]
    return arn["Fn::GetAtt"][0]


def keeper_function(t: dict) -> str:
    """The schema keeper: the function with a GLUE_DATABASE setting."""
    (name,) = [n for n, r in resources(t, "AWS::Serverless::Function").items()
               if "GLUE_DATABASE" in r["Properties"].get("Environment", {}).get("Variables", {})]
    return name


@WITH_LAMBDA
def test_processing_failed_alarm_reads_the_emf_metric(t):
    alarm = alarm_on(t, EMF["namespace"], EMF["processing_failed"])
    # EMF publishes a metric only under the exact dimension set it declares.
    assert list(dimensions(alarm)) == EMF["dimensions"]
    # The EMF line takes FunctionName from the running function: the stack's own function's name.
    assert dimensions(alarm)["FunctionName"] == {"Ref": transform_function(t)}
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


@WITH_LAMBDA
def test_errors_alarm_watches_the_stacks_function(t):
    alarm = alarm_on(t, "AWS/Lambda", "Errors", FunctionName={"Ref": transform_function(t)})
    assert dimensions(alarm) == {"FunctionName": {"Ref": transform_function(t)}}
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


@WITH_LAMBDA
def test_freshness_alarm_watches_the_stacks_delivery_stream(t):
    alarm = alarm_on(t, "AWS/Firehose", "DeliveryToS3.DataFreshness")
    assert dimensions(alarm) == {"DeliveryStreamName": {"Ref": only(t, "AWS::KinesisFirehose::DeliveryStream")}}
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == {"Ref": "FreshnessAlarmSeconds"}


@WITH_LAMBDA
def test_dead_letter_alarm_watches_the_pipes_queue_with_that_source_only(t):
    alarm = alarm_on(t, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    (name,) = [n for n, r in resources(t, ALARM).items() if r["Properties"] is alarm]
    assert t["Resources"][name]["Condition"] == "DynamoDBStreamsSource"
    (pipe,) = resources(t, "AWS::Pipes::Pipe").values()
    queue = pipe["Properties"]["SourceParameters"]["DynamoDBStreamParameters"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert t["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    assert dimensions(alarm) == {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}}
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


@WITH_LAMBDA
def test_pipe_failures_alarm_watches_the_stacks_pipe_with_that_source_only(t):
    alarm = alarm_on(t, "AWS/EventBridge/Pipes", "ExecutionFailed")
    (name,) = [n for n, r in resources(t, ALARM).items() if r["Properties"] is alarm]
    assert t["Resources"][name]["Condition"] == "DynamoDBStreamsSource"
    assert dimensions(alarm) == {"PipeName": {"Ref": only(t, "AWS::Pipes::Pipe")}}
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


@WITH_LAKE
def test_errors_alarm_watches_the_schema_keeper(t):
    keeper = {"Ref": keeper_function(t)}
    alarm = alarm_on(t, "AWS/Lambda", "Errors", FunctionName=keeper)
    assert dimensions(alarm) == {"FunctionName": keeper}
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


@ALL
def test_every_alarm_ignores_quiet_periods_and_notifies_the_optional_topic(t):
    alarms = resources(t, ALARM)
    conditional = {n: a["Condition"] for n, a in alarms.items() if "Condition" in a}
    # Transform: ProcessingFailed, Errors, freshness, delivery success, Firehose throttling; the
    # schema keeper's Errors where the lake is.
    always = (5 if t is not CONSUMER else 0) + (1 if t is not PRODUCER else 0)
    assert len(alarms) - len(conditional) == always
    if t is not CONSUMER:
        assert conditional == {"PipeFailuresAlarm": "DynamoDBStreamsSource", "DeadLetterQueueAlarm": "DynamoDBStreamsSource",
                               "ReplicationAgeAlarm": "KinesisSource", "ReplicationFailedAlarm": "KinesisSource",
                               "ReplicationThrottledAlarm": "KinesisSource", "StreamReaderAgeAlarm": "KinesisSource"}
    notify = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        # The stream's reader polls even a quiet stream: no data there means nobody reads it.
        expected = "breaching" if name == "StreamReaderAgeAlarm" else "notBreaching"
        assert props["TreatMissingData"] == expected, name
        assert props["AlarmActions"] == notify and props["OKActions"] == notify, name
    assert t["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


# ------------------------------------------------------------------ every hop

REPLICATION = {"ReplicationAgeAlarm": ("MAX", "AgeOfOldestUnreplicatedRecord"),
               "ReplicationFailedAlarm": ("SUM", "FailedToReplicateRecordCount"),
               "ReplicationThrottledAlarm": ("SUM", "ThrottledPutRecordCount")}


@WITH_LAMBDA
@pytest.mark.parametrize("tables,expected", [("", "TableName = 'orders'"),
                                             ("orders,devices", "TableName = 'orders' OR TableName = 'devices'")])
def test_replication_alarms_cover_every_table_of_the_stack(t, tables, expected):
    # One Metrics Insights query over AWS/DynamoDB names every table of the stack (the demo table or
    # each of ExistingTableNames), whatever its DelegatedOperation dimension.
    resolved = resolve(t, ExistingTableNames=tables)["Resources"]
    for name, (function, metric) in REPLICATION.items():
        (query,) = resolved[name]["Properties"]["Metrics"]
        template, variables = query["Expression"]["Fn::Sub"]
        joined = variables["Tables"]
        text = ("orders" if joined == {"Ref": "SourceTable"}
                else joined["Fn::Join"][0].join(tables.split(",")))
        sql = template.replace("${Tables}", text)
        assert sql == f'SELECT {function}({metric}) FROM "AWS/DynamoDB" WHERE {expected}', name
        assert query["Period"] == 300 and query["ReturnData"] is True


@WITH_LAMBDA
@pytest.mark.parametrize("hours", [24, 168])
def test_stream_reader_alarm_fires_with_half_the_retention_to_spare(t, hours):
    props = t["Resources"]["StreamReaderAgeAlarm"]["Properties"]
    age, ratio = props["Metrics"]
    assert age["MetricStat"]["Metric"] == {"Namespace": "AWS/Kinesis", "MetricName": "GetRecords.IteratorAgeMilliseconds",
                                           "Dimensions": [{"Name": "StreamName", "Value": {"Ref": "ChangeStream"}}]}
    assert age["MetricStat"]["Stat"] == "Maximum"
    expression = ratio["Expression"]["Fn::Sub"].replace("${StreamRetentionHours}", str(hours))
    # The alarm compares the expression with its threshold: evaluate it at the ages around half.
    fires = lambda age_ms: eval(expression, {"age": age_ms}) > props["Threshold"]  # noqa: E731
    half = hours * 3600000 / 2
    assert not fires(half - 60000) and fires(half + 60000)
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert "StreamRetentionHours" in t["Parameters"]


@WITH_LAMBDA
def test_firehose_delivery_and_throttling_are_watched(t):
    success = t["Resources"]["DeliverySuccessAlarm"]["Properties"]
    assert (success["Namespace"], success["MetricName"], success["Statistic"]) == ("AWS/Firehose", "DeliveryToS3.Success", "Average")
    assert success["ComparisonOperator"] == "LessThanThreshold" and success["Threshold"] == 1
    throttled = t["Resources"]["FirehoseThrottledAlarm"]["Properties"]
    assert throttled["MetricName"] == {"Fn::If": ["KinesisSource", "ThrottledGetRecords", "ThrottledRecords"]}
    for props in (success, throttled):
        assert props["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": {"Ref": "DeliveryStream"}}]


@WITH_LAMBDA
@pytest.mark.parametrize("source", ["KinesisDataStreams", "DynamoDBStreams"])
def test_the_dashboard_is_valid_json_and_shows_every_alarm(t, source):
    resolved = resolve(t, ChangeSource=source)["Resources"]
    pieces = resolved["PipelineDashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = ""
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
        else:
            sub = piece["Fn::Sub"]
            text += re.sub(r"\$\{[^}]+\}", "x", sub[0] if isinstance(sub, list) else sub)
    body = json.loads(text)
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarm_refs = {piece for piece in re.findall(r"\$\{(\w+)\.Arn\}", json.dumps(pieces))}
    assert {n for n, r in resolved.items() if r["Type"] == ALARM} <= alarm_refs
    titles = [w["properties"]["title"] for w in body["widgets"] if w["type"] == "metric"]
    assert [title[0] for title in titles] == sorted(title[0] for title in titles), "widgets go hop by hop"
    assert len(alarm_widget["properties"]["alarms"]) >= 7


@ALL
def test_outputs_name_the_alarms(t):
    named = {o["Value"]["Ref"] for o in t["Outputs"].values() if isinstance(o["Value"], dict) and "Ref" in o["Value"]}
    assert set(resources(t, ALARM)) <= named


@WITH_LAMBDA
def test_alarm_parameters_are_grouped(t):
    groups = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (alarms,) = [g for g in groups if g["Label"]["default"] == "Alarms"]
    assert alarms["Parameters"] == ["AlarmTopicArn", "FreshnessAlarmSeconds"]


def test_alarm_parameters_are_the_same_in_both_stacks():
    for parameter in ("AlarmTopicArn", "FreshnessAlarmSeconds"):
        assert SINGLE["Parameters"][parameter] == PRODUCER["Parameters"][parameter], parameter
    assert PRODUCER["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert CONSUMER["Parameters"]["AlarmTopicArn"] == SINGLE["Parameters"]["AlarmTopicArn"]


@pytest.mark.parametrize("value,valid", [
    ("", True),
    ("arn:aws:sns:eu-west-1:111122223333:lake-alarms", True),
    ("arn:aws-us-gov:sns:us-gov-west-1:111122223333:lake_alarms", True),
    ("arn:aws:sns:eu-west-1:111122223333:lake-alarms.fifo", False),
    ("arn:aws:sqs:eu-west-1:111122223333:lake-alarms", False),
    ("lake-alarms", False),
])
def test_alarm_topic_pattern(value, valid):
    pattern = PRODUCER["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is valid


def test_consumer_alarms_on_the_schema_keeper_only():
    # Neither the transformation function nor the delivery stream lives in the consumer account.
    (alarm,) = resources(CONSUMER, ALARM).values()
    assert dimensions(alarm["Properties"]) == {"FunctionName": {"Ref": keeper_function(CONSUMER)}}
    assert "FreshnessAlarmSeconds" not in CONSUMER["Parameters"]
