"""SQLAlchemy models, portable between SQLite and PostgreSQL."""

from .api_keys import ApiKeyModel
from .audit import AuditEntryModel
from .backfill import BackfillRunModel, LedgerEntryModel
from .control import AuditOutboxModel, ModeChangeModel, StorageModeModel, StorageProcessModel
from .credentials import CredentialModel
from .executions import ExecutionModel, NodeExecutionModel
from .jobs import BackgroundJobModel
from .users import UserModel
from .workflows import WorkflowModel, WorkflowVersionModel

__all__ = [
    "ApiKeyModel",
    "AuditEntryModel",
    "AuditOutboxModel",
    "BackgroundJobModel",
    "CredentialModel",
    "ExecutionModel",
    "LedgerEntryModel",
    "BackfillRunModel",
    "ModeChangeModel",
    "NodeExecutionModel",
    "StorageModeModel",
    "StorageProcessModel",
    "UserModel",
    "WorkflowModel",
    "WorkflowVersionModel",
]
