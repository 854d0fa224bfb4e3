"""A fix to moto's EC2 NAT gateways, where moto differs from AWS in a way kprov's tests meet.

AWS: once a NAT gateway is `deleted`, its Elastic IP is disassociated and can be given to a new
gateway. moto 5.2.5 marks the gateway `deleted` at once but leaves the address associated with the
gateway's network interface for ever, so re-creating a NAT gateway with the same Elastic IP fails
with `Resource.AlreadyAssociated` — which the kill -9 soak met: a destroy killed after deleting a
gateway but before releasing its address, then an apply that re-creates the gateway.
Fixed: deleting a gateway disassociates its addresses, as AWS does when the deletion completes.
"""

from moto.ec2.models.nat_gateways import NatGatewayBackend

_patched = False
_original_delete = NatGatewayBackend.delete_nat_gateway


def _delete_nat_gateway(self, nat_gateway_id):
    nat_gw = _original_delete(self, nat_gateway_id)
    for address in getattr(nat_gw, "address_set", []):
        allocation_id = address.get("allocationId")
        if not allocation_id:
            continue
        for eip in self.address_by_allocation([allocation_id]):
            if eip.association_id:
                self.disassociate_address(association_id=eip.association_id)
    return nat_gw


def install():
    """Idempotent."""
    global _patched
    if not _patched:
        NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway
        _patched = True
