"""Scope: a resource tagged with the stack is judged whatever its parents' tags, and the VPCs and security groups
the stack's own resources sit in or use are judged though nobody tagged them."""

from __future__ import annotations

from policies.cloud.api import AwsApi
from policies.cloud.audit import run_audit
from policies.cloud.context import CloudContext
from policies.model import Finding
from tests.audit.account import ACCOUNT, REGION, STACK, tags
from tests.audit.conftest import Clients

WORLD_DICOM = [{"IpProtocol": "tcp", "FromPort": 104, "ToPort": 104, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


def _audit(url: str, control: str) -> list[Finding]:
    api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
    return [f for f in run_audit(CloudContext(api=api, stack=STACK)) if f.control == control]


def _untagged_vpc(clients: Clients) -> str:
    return clients("ec2").create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]


def test_a_tagged_group_in_an_untagged_vpc_is_judged(clients: Clients, moto: str, account: dict) -> None:
    # The issue: NET-SG-WORLD scoped by VPC tag, so this group was never looked at.
    ec2 = clients("ec2")
    sg = ec2.create_security_group(GroupName="dicom-open", Description="x", VpcId=_untagged_vpc(clients),
                                   TagSpecifications=[{"ResourceType": "security-group", "Tags": tags("none")}])["GroupId"]  # fmt: skip
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=WORLD_DICOM)
    failing = [f for f in _audit(moto, "NET-SG-WORLD") if f.status == "fail"]
    assert [f.resource for f in failing] == [sg] and "104" in failing[0].message


def test_untagged_parents_of_a_tagged_instance_are_judged(clients: Clients, moto: str, account: dict) -> None:
    ec2 = clients("ec2")
    vpc = _untagged_vpc(clients)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="by-hand", Description="x", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=WORLD_DICOM)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[sg],
                      MetadataOptions={"HttpTokens": "required"},
                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags("phi")}])  # fmt: skip
    assert sg in {f.resource for f in _audit(moto, "NET-SG-WORLD") if f.status == "fail"}
    flow = {f.resource: f for f in _audit(moto, "NET-FLOW-LOGS")}
    assert flow[vpc].status == "fail" and flow[vpc].message == "no flow log"
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                    {"Name": "group-name", "Values": ["default"]}])  # fmt: skip
    assert default["SecurityGroups"][0]["GroupId"] in {f.resource for f in _audit(moto, "NET-DEFAULT-SG")}


def test_groups_on_the_load_balancers_interfaces_are_judged(clients: Clients, moto: str, account: dict) -> None:
    ids = account
    ec2 = clients("ec2")
    sg = ec2.create_security_group(GroupName="edited-on-eni", Description="x", VpcId=_untagged_vpc(clients))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=WORLD_DICOM)
    lb_id = ids["alb_arn"].split(":loadbalancer/", 1)[1]
    subnet = ec2.create_subnet(VpcId=ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["VpcId"],
                               CidrBlock="10.77.2.0/24")["Subnet"]["SubnetId"]  # fmt: skip
    ec2.create_network_interface(SubnetId=subnet, Groups=[sg], Description=f"ELB {lb_id}")
    assert sg in {f.resource for f in _audit(moto, "NET-SG-WORLD") if f.status == "fail"}


def test_another_stacks_groups_stay_out(clients: Clients, moto: str, account: dict) -> None:
    ec2 = clients("ec2")
    other = [{"Key": "pacsguard:stack", "Value": "qa"}]
    sg = ec2.create_security_group(GroupName="qa", Description="x", VpcId=_untagged_vpc(clients),
                                   TagSpecifications=[{"ResourceType": "security-group", "Tags": other}])["GroupId"]  # fmt: skip
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=WORLD_DICOM)
    assert sg not in {f.resource for f in _audit(moto, "NET-SG-WORLD")}
