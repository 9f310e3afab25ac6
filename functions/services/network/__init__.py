"""The network context: what routers should hold, the trigger queue, the provisioning batch that
applies it through the RouterOS adapter, router onboarding and import, and the VPN hub's peers."""
