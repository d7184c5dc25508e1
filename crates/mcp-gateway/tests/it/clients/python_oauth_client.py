"""The official Python MCP SDK's OAuth client (PyPI `mcp` 2.3.0) against the gateway's /mcp,
knowing only its URL: the 401's challenge leads it to the protected resource metadata, then to
the authorization server's metadata; it registers itself (dynamic client registration), runs
authorization code + PKCE with the resource indicator, and calls a tool with the token.

The browser is played headlessly: the authorization URL is followed, the provider's login and
consent forms (oidc-provider's development interactions) are posted, and the redirect's code
is handed back to the SDK.

Usage: python_oauth_client.py MCP_URL LOGIN. Prints `token <access token>` and `OK`; exits
non-zero with a message on the first failed check.
"""

import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

REDIRECT = "http://127.0.0.1:9/callback"


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


class Memory:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class Browser:
    """Follows the authorization URL, signs in as `login`, consents, keeps the code."""

    def __init__(self, login):
        self.login = login
        self.result = None
        self.visited = []

    async def go(self, url):
        async with httpx2.AsyncClient(timeout=30) as http:
            response = await http.get(url)
            for _ in range(20):
                self.visited.append(str(response.url))
                if response.status_code in (302, 303):
                    location = urljoin(str(response.url), response.headers["location"])
                    if location.startswith(REDIRECT):
                        query = parse_qs(urlparse(location).query)
                        check("code" in query, f"redirect without a code: {location}")
                        self.result = AuthorizationCodeResult(
                            code=query["code"][0],
                            state=query.get("state", [None])[0],
                            iss=query.get("iss", [None])[0],
                        )
                        return
                    response = await http.get(location)
                    continue
                check(response.status_code == 200, f"{response.url}: {response.status_code} {response.text[:500]}")
                page = response.text
                action = re.search(r'<form[^>]*action="([^"]+)"', page)
                check(action is not None, f"no form at {response.url}: {page[:500]}")
                target = urljoin(str(response.url), action.group(1))
                if 'name="login"' in page:
                    form = {"prompt": "login", "login": self.login, "password": "any"}
                else:
                    form = {"prompt": "consent"}
                response = await http.post(target, data=form)
            check(False, f"no redirect to the client after {self.visited}")

    async def callback(self):
        check(self.result is not None, "no authorization code")
        return self.result


async def main(url, login):
    browser = Browser(login)
    storage = Memory()
    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="gateway-it",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.go,
        callback_handler=browser.callback,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                check(init.server_info.name == "mcp-gateway", f"serverInfo {init.server_info}")
                tools = await s.list_tools()
                names = [t.name for t in tools.tools]
                check("fx__echo" in names, f"tool names {names}")
                echo = await s.call_tool("fx__echo", {"text": f"hello {login}"})
                check(echo.content[0].text == f"hello {login}", f"echo {echo}")
    check(storage.client is not None, "the client registered itself")
    check(storage.tokens is not None, "the client got a token")
    check(any("/interaction/" in v for v in browser.visited), f"signed in through the provider: {browser.visited}")
    print(f"token {storage.tokens.access_token}")
    print("OK")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
