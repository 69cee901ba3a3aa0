"""The Akash Console API's wire format, as strict pydantic models, for the stand-in and its
contract test.

Derived by reading (not copying) the zod schemas of github.com/akash-network/console at commit
d84c9e93d7904ec9cbbfd2d62b79994209bea297 (2026-08-22):
- apps/api/src/deployment/http-schemas/deployment.schema.ts  (deployments, deposits, list)
- apps/api/src/deployment/http-schemas/lease.schema.ts       (POST /v1/leases, lease status)
- apps/api/src/bid/http-schemas/bid.schema.ts                (GET /v1/bids)
- apps/api/src/utils/schema.ts                               (DseqSchema)
- apps/api/src/billing/http-schemas/tx.schema.ts             (signTx in the create answer)
- apps/api/src/core/services/hono-error-handler/hono-error-handler.service.ts  (error bodies)
- apps/api/src/deployment/routes/*/*.router.ts               (paths and status codes)
- apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts (create:
  `deposit` is optional and deprecated; with managed deposits on, the platform ignores it and
  funds DEPLOYMENT_DEFAULT_DEPOSIT, 0.5 USD by default; otherwise it is required, 400 without)

zod's z.string() / z.number() / z.boolean() are strict (no coercion): so are these models.
Request `dseq` is `z.bigint({coerce: true}).positive()` (a string or a number of digits);
answers always carry it as a string. Answers are checked with extra="forbid" so the stand-in
invents no field the API does not send.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictInt, StrictStr
from pydantic import StrictFloat as _StrictFloat

SOURCE_COMMIT = "d84c9e93d7904ec9cbbfd2d62b79994209bea297"

Number = StrictInt | _StrictFloat  # z.number(): a JSON number, never a string


def _dseq(value: object) -> str:
    """DseqSchema: coerced to a bigint, must be positive, then turned into a string."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("dseq must be a string or a number of digits")
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError("dseq must be a positive integer")
    return str(int(text))


RequestDseq = Annotated[str, BeforeValidator(_dseq)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Request(BaseModel):
    """Requests: zod strips unknown keys (no error), but checks every known one's type."""

    model_config = ConfigDict(extra="ignore", strict=True)


# ---- shared pieces ---------------------------------------------------------------------------
class Coin(Strict):
    denom: StrictStr
    amount: StrictStr  # micro units of denom, a decimal string


class EscrowDeposit(Strict):
    owner: StrictStr
    height: StrictStr
    source: StrictStr
    balance: Coin


class EscrowState(Strict):
    owner: StrictStr
    state: StrictStr
    transferred: list[Coin]
    settled_at: StrictStr
    funds: list[Coin]
    deposits: list[EscrowDeposit]


class EscrowId(Strict):
    scope: StrictStr
    xid: StrictStr


class EscrowAccount(Strict):
    id: EscrowId
    state: EscrowState


# ---- lease status (lease.schema.ts) ----------------------------------------------------------
class LeaseServiceStatus(Strict):
    name: StrictStr
    available: Number
    total: Number
    uris: list[StrictStr]
    observed_generation: Number
    replicas: Number
    updated_replicas: Number
    ready_replicas: Number
    available_replicas: Number


class ForwardedPort(Strict):
    port: Number
    externalPort: Number  # noqa: N815 (the wire name)
    host: StrictStr | None = None
    available: Number | None = None


class Ip(Strict):
    IP: StrictStr
    Port: Number
    ExternalPort: Number
    Protocol: StrictStr


class LeaseStatus(Strict):
    forwarded_ports: dict[str, list[ForwardedPort]]
    ips: dict[str, list[Ip]]
    services: dict[str, LeaseServiceStatus]


# ---- deployments (deployment.schema.ts) ------------------------------------------------------
class LeaseId(Strict):
    owner: StrictStr
    dseq: StrictStr
    gseq: Number
    oseq: Number
    provider: StrictStr
    bseq: Number


class DeploymentLeaseListItem(Strict):
    """A lease in GET /v1/deployments: a DeploymentLease without status."""

    id: LeaseId
    state: StrictStr
    price: Coin
    created_at: StrictStr
    closed_on: StrictStr
    reason: StrictStr | None = None


class DeploymentLease(DeploymentLeaseListItem):
    status: LeaseStatus | None  # nullable, not optional: null when the provider is unreachable


class DeploymentId(Strict):
    owner: StrictStr
    dseq: StrictStr


class DeploymentBody(Strict):
    id: DeploymentId
    state: StrictStr
    hash: StrictStr
    created_at: StrictStr


class DeploymentResponse(Strict):
    deployment: DeploymentBody
    leases: list[DeploymentLease]
    escrow_account: EscrowAccount


class GetDeploymentResponse(Strict):
    """GET /v1/deployments/{dseq}, POST /v1/leases, POST /v1/deposit-deployment: 200."""

    data: DeploymentResponse


class CreateDeploymentRequestData(Request):
    sdl: StrictStr
    deposit: Number | None = None  # deprecated, optional (see the module's docstring)


class CreateDeploymentRequest(Request):
    data: CreateDeploymentRequestData


class SignTx(Strict):
    """SignTxResponseOutputSchema's data (apps/api/src/billing/http-schemas/tx.schema.ts)."""

    code: Number
    transactionHash: StrictStr  # noqa: N815 (the wire name)
    rawLog: StrictStr  # noqa: N815


class CreatedDeployment(Strict):
    dseq: StrictStr
    manifest: StrictStr
    signTx: SignTx  # noqa: N815 (the wire name)


class CreateDeploymentResponse(Strict):
    """POST /v1/deployments: 201."""

    data: CreatedDeployment


class CloseDeploymentResult(Strict):
    success: StrictBool


class CloseDeploymentResponse(Strict):
    """DELETE /v1/deployments/{dseq}: 200."""

    data: CloseDeploymentResult


class DepositDeploymentRequestData(Request):
    dseq: RequestDseq
    deposit: Number  # dollars


class DepositDeploymentRequest(Request):
    data: DepositDeploymentRequestData


class ListedDeployment(Strict):
    deployment: DeploymentBody
    leases: list[DeploymentLeaseListItem]
    escrow_account: EscrowAccount


class Pagination(Strict):
    total: Number
    skip: Number
    limit: Number
    hasMore: StrictBool  # noqa: N815 (the wire name)


class ListDeploymentsData(Strict):
    deployments: list[ListedDeployment]
    pagination: Pagination


class ListDeploymentsResponse(Strict):
    """GET /v1/deployments?skip=&limit=: 200; the owner's active deployments."""

    data: ListDeploymentsData


# ---- leases (lease.schema.ts) -----------------------------------------------------------------
class CreateLeaseItem(Request):
    dseq: RequestDseq
    gseq: Number
    oseq: Number
    provider: StrictStr  # an akash1... bech32 address


class CreateLeaseRequest(Request):
    manifest: StrictStr
    leases: list[CreateLeaseItem]


# ---- bids (bid.schema.ts) --------------------------------------------------------------------
class BidBody(Strict):
    id: LeaseId
    state: StrictStr
    price: Coin
    created_at: StrictStr
    resources_offer: list[dict]
    reclamation_window: StrictStr | None = None


class BidEntry(Strict):
    bid: BidBody
    escrow_account: EscrowAccount


class ListBidsResponse(Strict):
    """GET /v1/bids?dseq=: 200 (an empty list for an unknown dseq)."""

    data: list[BidEntry]


# ---- errors (hono-error-handler.service.ts) --------------------------------------------------
class ErrorResponse(Strict):
    error: StrictStr
    message: StrictStr
    code: StrictStr
    type: StrictStr
    data: object | None = None


# (method, path pattern) -> (success status, answer model)
ROUTES: dict[tuple[str, str], tuple[int, type[BaseModel]]] = {
    ("POST", "/v1/deployments"): (201, CreateDeploymentResponse),
    ("GET", "/v1/deployments"): (200, ListDeploymentsResponse),
    ("GET", "/v1/deployments/{dseq}"): (200, GetDeploymentResponse),
    ("DELETE", "/v1/deployments/{dseq}"): (200, CloseDeploymentResponse),
    ("POST", "/v1/deposit-deployment"): (200, GetDeploymentResponse),
    ("GET", "/v1/bids"): (200, ListBidsResponse),
    ("POST", "/v1/leases"): (200, GetDeploymentResponse),
}
