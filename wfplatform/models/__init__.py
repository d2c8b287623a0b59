"""SQLAlchemy models, portable between SQLite and PostgreSQL."""

from .control import ModeChangeModel, StorageModeModel
from .users import UserModel
from .workflows import WorkflowModel, WorkflowVersionModel

__all__ = [
    "ModeChangeModel",
    "StorageModeModel",
    "UserModel",
    "WorkflowModel",
    "WorkflowVersionModel",
]
