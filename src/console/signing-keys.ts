import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { SigningKeyInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { formatDate, h, time } from "./dom.js";
import { afterConfirming, busy, PagedTable, type View, type ViewContext } from "./view.js";

/** Signing keys: the key ring (kid, algorithm, state, times) and rotation. */
export function signingKeysView(context: ViewContext): View {
  const { admin } = context;
  const table = new PagedTable<SigningKeyInfo>({
    testid: "signing-keys",
    noun: "signing keys",
    headings: ["Key ID (kid)", "Algorithm", "State", "Created", "Signs from", "Leaves the JWKS"],
    // ListSigningKeys is not paged: the ring holds a handful of keys.
    load: async () => ({ items: (await admin.listSigningKeys({})).keys, nextPageToken: "" }),
    row: (key) =>
      h(
        "tr",
        { testid: "signing-key-row", data: { kid: key.kid, active: String(key.active), published: String(key.published) } },
        h("td", {}, h("code", {}, key.kid)),
        h("td", {}, key.alg),
        h("td", {}, ...states(key)),
        h("td", {}, time(key.createTime)),
        h("td", {}, time(key.signStartTime)),
        h("td", {}, key.retireTime ? time(key.retireTime) : h("span", { class: "muted" }, "while current")),
      ),
    fail: context.fail,
  });

  const rotate = h("button", { type: "button", class: "primary", testid: "signing-key-rotate" }, "Rotate signing key");
  const refresh = h("button", { type: "button", testid: "signing-keys-refresh" }, "Refresh");
  refresh.onclick = () => void busy(refresh, () => table.reload());
  rotate.onclick = () =>
    void afterConfirming(
      context,
      {
        title: "Rotate the signing key?",
        message:
          "A new key is published in the JWKS now and starts signing after the publish delay, so verifiers' caches catch up first. The current key keeps verifying until the last token it signed has expired.",
        confirmLabel: "Rotate signing key",
      },
      "Rotating the signing key",
      async () => {
        const rotated = await busy(rotate, () => admin.rotateSigningKey({}));
        const key = rotated.key;
        const from = key?.signStartTime ? formatDate(timestampDate(key.signStartTime)) : "after the publish delay";
        context.notice(`New signing key ${key?.kid ?? ""} is published; it signs from ${from}.`);
        await table.reload();
      },
    );

  void table.reload();
  return {
    element: h(
      "section",
      { testid: "signing-keys-view" },
      h("div", { class: "toolbar" }, h("h2", {}, "Signing keys"), refresh, rotate),
      h("p", { class: "hint" }, "Access tokens are signed by the active key; every published key is in /.well-known/jwks.json."),
      table.element,
    ),
  };
}

function states(key: SigningKeyInfo): HTMLElement[] {
  const badges: HTMLElement[] = [];
  if (key.active) badges.push(h("span", { class: "badge active" }, "signing"));
  if (key.published) badges.push(h("span", { class: "badge published" }, "published"));
  if (!key.active && key.published && key.signStartTime && timestampDate(key.signStartTime).getTime() > Date.now()) {
    badges.push(h("span", { class: "badge" }, "next"));
  }
  if (key.retireTime) badges.push(h("span", { class: "badge retiring" }, "retiring"));
  if (badges.length === 0) badges.push(h("span", { class: "badge" }, "unpublished"));
  return badges.map((badge, index) => (index === 0 ? badge : h("span", {}, " ", badge)));
}
