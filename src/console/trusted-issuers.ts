import type { SubjectMapping, TrustedIssuerInfo } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { claimConditions } from "../domain/claim-conditions.js";
import { allClients } from "./access-tokens.js";
import { chips, field, h, time, words } from "./dom.js";
import { entityTab, sourceBadge } from "./entity-tab.js";
import { keyIdsOf, publicKeysFrom } from "./jwks.js";
import type { View, ViewContext } from "./view.js";

/** Tells the datalists of the forms opened during this visit apart (a datalist is found by id). */
let datalists = 0;

/**
 * Trusted external issuers (workload identity federation): list (paged),
 * create, delete. Config-declared issuers are read-only. There is no edit:
 * the AdminService has no UpdateTrustedIssuer (delete and create again).
 */
export function trustedIssuersView(context: ViewContext): View {
  const { admin } = context;
  return entityTab(context, {
    testid: "trusted-issuer",
    noun: "trusted issuer",
    headings: ["Issuer", "Keys", "Audiences", "Subject mappings", "Source", "Created", ""],
    list: (page) => admin.listTrustedIssuers(page).then((response) => ({ items: response.trustedIssuers, nextPageToken: response.nextPageToken })),
    key: "issuer",
    cells: (trusted) => [
      // An issuer is a URL, often long: it wraps (not too narrow), where an id stays on one line.
      h("td", { class: "issuer" }, h("code", {}, trusted.issuer)),
      h("td", { testid: "trusted-issuer-keys" }, keysOf(trusted)),
      h("td", {}, chips(trusted.audiences)),
      h("td", {}, ...trusted.subjectMappings.map(mappingLine)),
      h("td", {}, sourceBadge(trusted.source)),
      h("td", {}, time(trusted.createTime)),
    ],
    remove: {
      message: (issuer) =>
        `Tokens of "${issuer}" stop authenticating the clients its subjects map to, at once here and on every other instance within one change-feed poll. Access tokens already issued to those clients stay in force until they expire (Revoke all tokens on a client ends them). There is no undo: create the issuer again.`,
      send: (issuer) => admin.deleteTrustedIssuer({ issuer }),
    },
    form: {
      hint: "Its JWTs (a Kubernetes service-account token, a CI job's token) authenticate, as federated_jwt client assertions, the clients their subjects map to. No edit later: delete and create again.",
      open: () => {
        const issuer = h("input", { type: "text", testid: "trusted-issuer-issuer", required: true, autocomplete: "off", spellcheck: false, placeholder: "https://token.actions.githubusercontent.com" });
        const keys = h("textarea", {
          testid: "trusted-issuer-jwks",
          rows: 3,
          placeholder: 'https://issuer.example.com/.well-known/jwks or {"keys": [ …public JWKs… ]}',
          autocomplete: "off",
          spellcheck: false,
        });
        const audiences = h("input", { type: "text", testid: "trusted-issuer-audiences", autocomplete: "off", spellcheck: false, placeholder: "tokensmith" });
        const mappings = mappingRows(context);
        return {
          fields: [
            field("Issuer", issuer, "the iss of its tokens, exactly"),
            field("Audiences", audiences, "space-separated; its tokens' aud must name one"),
            field("Public keys", keys, "a JWK Set as JSON (public keys only) or a jwks_uri (https): exactly one"),
          ],
          below: [mappings.element],
          first: issuer,
          submit: () => {
            const request = {
              issuer: issuer.value.trim(),
              ...publicKeysFrom(keys.value, "A trusted issuer needs its public keys"),
              audiences: words(audiences.value),
              subjectMappings: mappings.read(),
            };
            if (request.audiences.length === 0) throw new Error("Give at least one audience: the issuer's tokens must name one of them in aud");
            return async () => {
              const created = await admin.createTrustedIssuer(request);
              return { key: created.trustedIssuer?.issuer ?? request.issuer, reveal: () => Promise.resolve() };
            };
          },
        };
      },
    },
  });
}

/** The issuer's keys as the list shows them: the jwks_uri, or the key ids of its JWK Set. */
function keysOf(trusted: TrustedIssuerInfo): HTMLElement {
  if (trusted.jwksUri !== "") return h("code", { title: "jwks_uri: fetched when a token comes" }, trusted.jwksUri);
  const keyIds = keyIdsOf(trusted.jwksJson).map((kid) => kid || "(no kid)");
  return h("span", { title: "The key ids of its JWK Set" }, chips(keyIds, "no keys"));
}

/** "subject → client", then its claim conditions as name=value. */
function mappingLine(mapping: SubjectMapping): HTMLElement {
  const claims = Object.entries(mapping.claims).map(([name, value]) => `${name}=${value}`);
  return h(
    "div",
    { class: "subject-mapping", testid: "subject-mapping" },
    h("code", {}, mapping.subject),
    " → ",
    h("code", {}, mapping.clientId),
    claims.length > 0 ? h("div", { title: "Claims the token must carry" }, chips(claims)) : null,
  );
}

/**
 * The form's subject mappings: one row or more, tried in order. Each names a
 * subject (exact, or ending in `*`), a client (offered from the tenant's
 * federated_jwt clients, or typed) and optional claim conditions.
 */
function mappingRows({ admin }: ViewContext) {
  const listId = `trusted-issuer-clients-${++datalists}`;
  const clients = h("datalist", { id: listId, testid: "trusted-issuer-clients" });
  allClients(admin).then(
    (listed) => clients.replaceChildren(...listed.filter((info) => info.tokenEndpointAuthMethods.includes("federated_jwt")).map((info) => h("option", { value: info.id }))),
    // The client can still be typed; the server says if it is unknown at the first token.
    () => undefined,
  );
  const rows = h("div", { class: "mapping-rows" });
  const add = h("button", { type: "button", testid: "trusted-issuer-add-mapping" }, "Add mapping");
  const showRemovable = () => {
    const buttons = rows.querySelectorAll<HTMLButtonElement>("[data-testid=mapping-remove]");
    buttons.forEach((button) => (button.disabled = buttons.length === 1));
  };
  const addRow = () => {
    const subject = h("input", { type: "text", testid: "mapping-subject", autocomplete: "off", spellcheck: false, placeholder: "repo:my-org/app:*" });
    const client = h("input", { type: "text", testid: "mapping-client", autocomplete: "off", spellcheck: false, placeholder: "a federated_jwt client" });
    client.setAttribute("list", listId);
    const claims = h("input", { type: "text", testid: "mapping-claims", autocomplete: "off", spellcheck: false, placeholder: "repository_owner=my-org" });
    const remove = h("button", { type: "button", class: "danger", testid: "mapping-remove", title: "Remove this mapping" }, "Remove");
    const row = h(
      "div",
      { class: "mapping-row", testid: "trusted-issuer-mapping" },
      field("Subject", subject, "exact, or ending in *"),
      field("Client", client),
      field("Claims", claims, "optional; name=value, space-separated"),
      remove,
    );
    remove.onclick = () => {
      row.remove();
      showRemovable();
    };
    rows.append(row);
    showRemovable();
    return subject;
  };
  add.onclick = () => addRow().focus();
  addRow();
  return {
    element: h(
      "fieldset",
      { testid: "trusted-issuer-mappings-field" },
      h("legend", {}, "Subject mappings", h("span", { class: "hint" }, " — tried in order: the first whose subject and claims match names the client")),
      clients,
      rows,
      add,
    ),
    /** The mappings as CreateTrustedIssuer takes them; throws a sentence for a row that is incomplete. */
    read(): Array<{ subject: string; clientId: string; claims: Record<string, string> }> {
      return Array.from(rows.children).map((row, index) => {
        const value = (testid: string) => row.querySelector<HTMLInputElement>(`[data-testid=${testid}]`)!.value.trim();
        const subject = value("mapping-subject");
        const clientId = value("mapping-client");
        if (subject === "" || clientId === "") throw new Error(`Subject mapping ${index + 1} needs a subject and a client`);
        return { subject, clientId, claims: claimsFrom(value("mapping-claims"), index + 1) };
      });
    },
  };
}

/** "name=value other=value" as a claims map; throws for a condition that is not name=value. */
function claimsFrom(text: string, mapping: number): Record<string, string> {
  const parsed = claimConditions(words(text));
  if ("malformed" in parsed) throw new Error(`Subject mapping ${mapping}: the claim condition "${parsed.malformed}" is not name=value`);
  if ("repeated" in parsed) throw new Error(`Subject mapping ${mapping}: the claim "${parsed.repeated}" is given twice: give each claim once`);
  return parsed.claims;
}
