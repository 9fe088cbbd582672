"""The fake Discord's store, as Discord's documentation defines it: the application's SKUs, the
entitlements its purchases make (listed with Discord's filters and paging, consumed once,
made for tests), the gateway's ENTITLEMENT_CREATE / _UPDATE / _DELETE, and what a member does
in Discord's own purchase window (which sends the bot no interaction: only the entitlement)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from testkit.fake_discord.gateway import Gateway
from testkit.fake_discord.records import FakeMember, discord_error, json_response
from testkit.snowflakes import snowflake

CONSUMABLE = 3
DURABLE = 2
SUBSCRIPTION = 5
PURCHASE = 1
TEST_MODE_PURCHASE = 4
APPLICATION_SUBSCRIPTION = 8


class Store(Gateway):
    def add_sku(self, name: str, kind: int = CONSUMABLE) -> int:
        """A SKU of the application (consumable unless told otherwise); its id."""
        sku_id = snowflake()
        self.skus.append(
            {
                "id": str(sku_id),
                "type": kind,
                "application_id": str(self.application_id),
                "name": name,
                "slug": name.lower().replace(" ", "-"),
                "flags": 1 << 2,  # available to users
            }
        )
        return sku_id

    def _entitlement(
        self, member: FakeMember, sku_id: int, kind: int, *, consumed: bool = False
    ) -> dict[str, Any]:
        entitlement: dict[str, Any] = {
            "id": str(snowflake()),
            "sku_id": str(sku_id),
            "application_id": str(self.application_id),
            "user_id": str(member.id),
            "type": kind,
            "deleted": False,
            "starts_at": None,
            "ends_at": None,
            "consumed": consumed,
        }
        self.entitlements[entitlement["id"]] = entitlement
        return entitlement

    async def buy(
        self, member: FakeMember, sku_id: int, *, test: bool = False, announce: bool = True
    ) -> dict[str, Any]:
        """The member completes Discord's purchase window for a SKU (in the application's test
        mode with `test`): an entitlement, and ENTITLEMENT_CREATE unless the bot was away
        (`announce=False`: only the list says so). A consumable not yet consumed cannot be
        bought again, as Discord refuses it."""
        for existing in self.entitlements.values():
            if (
                existing["sku_id"] == str(sku_id)
                and existing["user_id"] == str(member.id)
                and not existing["consumed"]
                and not existing["deleted"]
            ):
                raise AssertionError("Discord refuses: the last purchase is not consumed yet")
        entitlement = self._entitlement(member, sku_id, TEST_MODE_PURCHASE if test else PURCHASE)
        if announce:
            await self.dispatch("ENTITLEMENT_CREATE", dict(entitlement))
        return entitlement

    async def refund(self, entitlement_id: str, *, announce: bool = True) -> None:
        """Discord refunds a purchase: the entitlement is deleted, and ENTITLEMENT_DELETE goes
        out unless the bot was away."""
        entitlement = self.entitlements[entitlement_id]
        entitlement["deleted"] = True
        if announce:
            await self.dispatch("ENTITLEMENT_DELETE", dict(entitlement))

    async def announce_again(self, entitlement_id: str) -> None:
        """The same ENTITLEMENT_CREATE once more (as a replayed gateway session may)."""
        await self.dispatch("ENTITLEMENT_CREATE", dict(self.entitlements[entitlement_id]))

    async def _store_route(self, request: web.Request, path: str) -> web.Response | None:
        """The store's REST routes (None: not one of them)."""
        method = request.method
        if method == "GET" and re.fullmatch(r"/applications/\d+/skus", path):
            return json_response(self.skus)
        if re.fullmatch(r"/applications/\d+/entitlements", path):
            if method == "GET":
                return json_response(self._listed(request.query))
            if method == "POST":  # a test entitlement, as the developer API makes one
                body = await request.json()
                member = self.members.get(int(body["owner_id"])) or FakeMember(
                    int(body["owner_id"]), "someone"
                )
                made = self._entitlement(member, int(body["sku_id"]), TEST_MODE_PURCHASE)
                await self.dispatch("ENTITLEMENT_CREATE", dict(made))
                return json_response(made)
        if match := re.fullmatch(r"/applications/\d+/entitlements/(\d+)/consume", path):
            entitlement = self.entitlements.get(match.group(1))
            if method != "POST":
                return discord_error(405, 0, "405: Method Not Allowed")
            if entitlement is None or entitlement["deleted"]:
                return discord_error(404, 10075, "Unknown Entitlement")
            if entitlement["consumed"]:
                return discord_error(400, 40074, "Entitlement already consumed")
            entitlement["consumed"] = True
            self.consumes += 1
            return web.Response(status=204)
        if match := re.fullmatch(r"/applications/\d+/entitlements/(\d+)", path):
            entitlement = self.entitlements.get(match.group(1))
            if entitlement is None:
                return discord_error(404, 10075, "Unknown Entitlement")
            return json_response(entitlement)
        return None

    def _listed(self, query: Any) -> list[dict[str, Any]]:
        """`GET …/entitlements` with Discord's filters; paged after/before an id, ascending."""
        found = sorted(self.entitlements.values(), key=lambda e: int(e["id"]))
        if "user_id" in query:
            found = [e for e in found if e["user_id"] == query["user_id"]]
        if "sku_ids" in query:
            skus = set(query["sku_ids"].split(","))
            found = [e for e in found if e["sku_id"] in skus]
        if query.get("exclude_deleted", "1") in ("1", "true"):
            found = [e for e in found if not e["deleted"]]
        if "after" in query:
            found = [e for e in found if int(e["id"]) > int(query["after"])]
        if "before" in query:
            found = [e for e in found if int(e["id"]) < int(query["before"])]
        limit = int(query.get("limit", 100))
        self.entitlement_lists += 1
        return [dict(e) for e in found[:limit]]
