"""The VPN hub: one EC2 instance running WireGuard that the routers connect to; it routes the
functions' RouterOS and CoA traffic to the routers, forwards their RADIUS to the load balancer, and is
the private subnets' NAT instance for HTTPS to the internet (the payment providers' APIs)."""

from __future__ import annotations

from typing import Any

from infra.template.common import VPC_CIDR, assume, getatt, ref, sub

HUB_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

HUB_UP = """#!/bin/bash
# Brings up wg0 (boot, restart): the key pair survives the instance in SSM, the public key is
# published for the onboarding scripts.
set -euo pipefail
umask 077
. /etc/wispcloud/hub.env
export AWS_DEFAULT_REGION=$REGION
mkdir -p /etc/wireguard /run/wispcloud
if ! aws ssm get-parameter --name "$KEY_PARAMETER" --with-decryption \\
    --query Parameter.Value --output text >/etc/wireguard/hub.key 2>/dev/null; then
  wg genkey >/etc/wireguard/hub.key
  aws ssm put-parameter --name "$KEY_PARAMETER" --type SecureString \\
    --value "$(cat /etc/wireguard/hub.key)" >/dev/null
fi
aws ssm put-parameter --name "$PUBLIC_KEY_PARAMETER" --type String --overwrite \\
  --value "$(wg pubkey </etc/wireguard/hub.key)" >/dev/null
ip link show wg0 >/dev/null 2>&1 || ip link add wg0 type wireguard
ip address replace "$HUB_ADDRESS/32" dev wg0
wg set wg0 listen-port 51820 private-key /etc/wireguard/hub.key
ip link set wg0 up
ip route replace "$VPN_CIDR" dev wg0
# functions reach routers as the hub address (the router's API user and CoA port accept only it)
iptables -t nat -C POSTROUTING -o wg0 -j MASQUERADE 2>/dev/null \\
  || iptables -t nat -A POSTROUTING -o wg0 -j MASQUERADE
# NAT instance of the private subnets: their HTTPS to the internet (the payment providers' APIs) leaves
# as this hub's public address; nothing else from the VPC is forwarded out
uplink=$(ip -4 route show default | awk '{print $5; exit}')
iptables -C FORWARD -s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink" -p tcp --dport 443 -j ACCEPT 2>/dev/null \\
  || iptables -I FORWARD 1 -s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink" -p tcp --dport 443 -j ACCEPT
iptables -C FORWARD -s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink" -j DROP 2>/dev/null \\
  || iptables -A FORWARD -s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink" -j DROP
iptables -t nat -C POSTROUTING -s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink" -j MASQUERADE 2>/dev/null \\
  || iptables -t nat -A POSTROUTING -s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink" -j MASQUERADE
"""

HUB_SYNC = """#!/bin/bash
# Every 30 s: the peers of the onboarded gateways (wg syncconf keeps the unchanged tunnels up) and
# RADIUS forwarded to the load balancer's current addresses, resolved by name.
set -euo pipefail
umask 077
. /etc/wispcloud/hub.env
export AWS_DEFAULT_REGION=$REGION
mkdir -p /run/wispcloud
aws lambda invoke --function-name "$PEERS_FUNCTION" --cli-read-timeout 25 /run/wispcloud/peers.json >/dev/null
python3 -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))["config"])' \\
  /run/wispcloud/peers.json >/run/wispcloud/peers.conf
{
  printf '[Interface]\\nPrivateKey = %s\\nListenPort = 51820\\n\\n' "$(cat /etc/wireguard/hub.key)"
  cat /run/wispcloud/peers.conf
} >/run/wispcloud/wg0.conf
wg syncconf wg0 /run/wispcloud/wg0.conf
addrs=$(getent ahostsv4 "$RADIUS_NAME" | awk '{print $1}' | sort -u | tr '\\n' ' ')
if [ -n "$addrs" ] && [ "$addrs" != "$(cat /run/wispcloud/radius-addrs 2>/dev/null || true)" ]; then
  iptables -t nat -N WISP_RADIUS 2>/dev/null || true
  iptables -t nat -F WISP_RADIUS
  # shellcheck disable=SC2086
  set -- $addrs
  left=$#
  for a in "$@"; do
    if [ "$left" -gt 1 ]; then
      iptables -t nat -A WISP_RADIUS -m statistic --mode nth --every "$left" --packet 0 \\
        -j DNAT --to-destination "$a"
    else
      iptables -t nat -A WISP_RADIUS -j DNAT --to-destination "$a"
    fi
    left=$((left - 1))
  done
  echo "$addrs" >/run/wispcloud/radius-addrs
fi
iptables -t nat -C PREROUTING -i wg0 -p udp --dport 1812:1813 -j WISP_RADIUS 2>/dev/null \\
  || iptables -t nat -A PREROUTING -i wg0 -p udp --dport 1812:1813 -j WISP_RADIUS
"""

HUB_UNITS = {
    "wisp-hub.service": """[Unit]
Description=WispCloud WireGuard hub (wg0)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/wisp-hub-up
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
""",
    "wisp-hub-sync.service": """[Unit]
Description=WispCloud hub: router peers and RADIUS forwarding
Requires=wisp-hub.service
After=wisp-hub.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/wisp-hub-sync
""",
    "wisp-hub-sync.timer": """[Unit]
Description=WispCloud hub sync every 30 seconds

[Timer]
OnBootSec=20s
OnUnitActiveSec=30s
AccuracySec=1s

[Install]
WantedBy=timers.target
""",
}


def hub_user_data() -> str:
    """First boot: packages, the scripts and systemd units; everything after runs from the units,
    on every boot."""
    parts = [
        "#!/bin/bash",
        "set -euxo pipefail",
        "dnf install -y wireguard-tools iptables-nft",
        "echo 'net.ipv4.ip_forward = 1' >/etc/sysctl.d/90-wispcloud.conf",
        "sysctl --system",
        "mkdir -p /etc/wispcloud",
        "cat >/etc/wispcloud/hub.env <<'EOF'",
        "REGION=${AWS::Region}",
        "PEERS_FUNCTION=${VpnPeersFunction}",
        "KEY_PARAMETER=/wispcloud/${AWS::StackName}/vpn/hub-private-key",
        "PUBLIC_KEY_PARAMETER=/wispcloud/${AWS::StackName}/vpn/hub-public-key",
        "HUB_ADDRESS=${VpnHubAddress}",
        "VPN_CIDR=${VpnCidr}",
        f"VPC_CIDR={VPC_CIDR}",
        "RADIUS_NAME=${RadiusLoadBalancer.DNSName}",
        "EOF",
    ]
    for name, text in (("wisp-hub-up", HUB_UP), ("wisp-hub-sync", HUB_SYNC)):
        parts += [
            f"cat >/usr/local/sbin/{name} <<'EOF'",
            text.rstrip("\n"),
            "EOF",
            f"chmod 755 /usr/local/sbin/{name}",
        ]
    for name, text in HUB_UNITS.items():
        parts += [f"cat >/etc/systemd/system/{name} <<'EOF'", text.rstrip("\n"), "EOF"]
    parts += ["systemctl daemon-reload", "systemctl enable --now wisp-hub.service wisp-hub-sync.timer", ""]
    return "\n".join(parts)


def hub_resources() -> dict[str, Any]:
    return {**_hub_interface(), **_hub_role(), **_hub_instance()}


def _hub_interface() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["VpnSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "WireGuard hub: routers connect here",
            "VpcId": ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "udp", "FromPort": 51820, "ToPort": 51820, "CidrIp": "0.0.0.0/0"},
                # forwarded to routers: RouterOS API (8728/8729), RADIUS CoA/Disconnect (3799) and the
                # RADIUS answers to the routers' requests
                {"IpProtocol": "tcp", "FromPort": 8728, "ToPort": 8729, "CidrIp": VPC_CIDR},
                {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "CidrIp": VPC_CIDR},
                # NAT for the functions' HTTPS to the internet (payment providers); not the RADIUS tasks
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "SourceSecurityGroupId": ref("LambdaSecurityGroup"),
                },
            ],
        },
    }
    r["VpnHubInterface"] = {
        "Type": "AWS::EC2::NetworkInterface",
        "Properties": {
            "SubnetId": ref("PublicSubnetA"),
            "SourceDestCheck": False,
            "GroupSet": [ref("VpnSecurityGroup")],
            "Description": "WireGuard hub interface (routes the VPN range)",
        },
    }
    r["VpnHubElasticIp"] = {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}}
    r["VpnHubElasticIpAssociation"] = {
        "Type": "AWS::EC2::EIPAssociation",
        "Properties": {
            "AllocationId": getatt("VpnHubElasticIp", "AllocationId"),
            "NetworkInterfaceId": ref("VpnHubInterface"),
        },
    }
    return r


def _hub_role() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["VpnHubRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume("ec2.amazonaws.com"),
            # Session Manager is the way in (no SSH key, no port 22)
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")],
            "Policies": [
                {
                    "PolicyName": "vpn-hub",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                                "Resource": [
                                    sub(
                                        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                                        "/wispcloud/${AWS::StackName}/vpn/" + name
                                    )
                                    for name in ("hub-private-key", "hub-public-key")
                                ],
                            },
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": getatt("VpnPeersFunction", "Arn"),
                            },
                        ],
                    },
                }
            ],
        },
    }
    return r


def _hub_instance() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["VpnHubInstanceProfile"] = {
        "Type": "AWS::IAM::InstanceProfile",
        "Properties": {"Roles": [ref("VpnHubRole")]},
    }
    r["VpnHubInstance"] = {
        "Type": "AWS::EC2::Instance",
        "Properties": {
            "ImageId": ref("VpnHubImageId"),
            "InstanceType": ref("VpnHubInstanceType"),
            "IamInstanceProfile": ref("VpnHubInstanceProfile"),
            "NetworkInterfaces": [{"NetworkInterfaceId": ref("VpnHubInterface"), "DeviceIndex": "0"}],
            "MetadataOptions": {"HttpTokens": "required"},
            "UserData": {"Fn::Base64": sub(hub_user_data())},
            "Tags": [{"Key": "Name", "Value": sub("${AWS::StackName}-vpn-hub")}],
        },
    }
    return r
