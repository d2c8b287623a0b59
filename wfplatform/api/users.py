"""The current user: profile, password and API keys."""

from __future__ import annotations

from flask.views import MethodView

from ..bootstrap import services
from .auth import token_response
from .blueprint import Blueprint
from .limits import limit_per_user
from .schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeyListSchema,
    ApiKeySchema,
    PasswordChangeSchema,
    ProfileUpdateSchema,
    TokenSchema,
    UserSchema,
)
from .security import (
    SECURITY,
    access_token_required,
    current_actor,
    current_user,
    login_required,
)

blp = Blueprint("users", __name__, url_prefix="/api/users/me", description="The current user")
limit_per_user(blp)


@blp.route("")
class Me(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, UserSchema)
    def get(self):
        """The account behind the access token or API key."""
        return current_user()

    @blp.doc(security=SECURITY)
    @blp.arguments(ProfileUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(403, description="the current password is wrong")
    @blp.alt_response(409, description="the email is taken")
    def patch(self, body):
        """Change the name, or the email (with `current_password`)."""
        password = body.pop("current_password", None)
        return services().accounts.update_profile(
            current_user().id, body, current_actor(), current_password=password
        )


@blp.route("/password")
class Password(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(403, description="the current password is wrong")
    def post(self, body):
        """Change the password; every earlier access token and every API key stops working."""
        user = current_user()
        token, changed = services().accounts.change_password(
            user.id, body["current_password"], body["new_password"], current_actor()
        )
        return token_response(token, changed)


@blp.route("/api-keys")
class ApiKeys(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, ApiKeyListSchema)
    def get(self):
        """Your API keys, without their secrets."""
        return {"items": services().api_keys.list(current_user().id)}

    @blp.doc(security=SECURITY)
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    @blp.alt_response(403, description="the current password is wrong, or the caller is a key")
    @access_token_required
    def post(self, body):
        """Create a key (with `current_password`, from an access token: a key never mints
        keys); the response is the only time its secret is shown."""
        user, actor = current_user(), current_actor()
        services().accounts.confirm_password(user, body["current_password"], actor)
        key, secret = services().api_keys.create(user.id, body["name"], actor)
        return {**vars(key), "key": secret}


@blp.route("/api-keys/<key_id>")
class ApiKey(MethodView):
    decorators = [login_required]

    @blp.doc(security=SECURITY)
    @blp.response(200, ApiKeySchema)
    def delete(self, key_id):
        """Revoke a key: it stops working at once."""
        return services().api_keys.revoke(current_user().id, key_id, current_actor())
