"""Registration and login."""

from __future__ import annotations

from flask.views import MethodView

from ..bootstrap import services
from .blueprint import Blueprint
from .limits import limit_per_address
from .schemas import LoginSchema, RegisterSchema, TokenSchema, UserSchema
from .security import current_actor, ignores_credentials

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and login")


def token_response(token: str, user) -> dict:
    max_age = services().accounts.tokens.max_age_seconds
    return {"access_token": token, "token_type": "bearer", "expires_in": max_age, "user": user}


@blp.route("/register")
@ignores_credentials
class Register(MethodView):
    decorators = [limit_per_address]

    @blp.arguments(RegisterSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, description="the email is taken")
    def post(self, body):
        """Create an account (role `user`)."""
        return services().accounts.register(
            body["email"], body["password"], body["name"], current_actor()
        )


@blp.route("/login")
@ignores_credentials
class Login(MethodView):
    decorators = [limit_per_address]

    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, description="the email or the password is wrong")
    @blp.alt_response(429, description="too many attempts or failures; see Retry-After")
    def post(self, body):
        """Exchange an email and a password for a signed access token."""
        token, user = services().accounts.login(body["email"], body["password"], current_actor())
        return token_response(token, user)
