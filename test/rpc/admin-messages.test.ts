import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ApiKeyInfoSchema, ClientInfoSchema } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { OAuthError } from "../../src/domain/oauth-error.js";
import { apiKeyChanges, clientChanges, maskedChanges, updateMaskOf } from "../../src/rpc/admin-messages.js";

/**
 * update_mask paths are the .proto field names (AIP-161), derived from the
 * descriptor: what the CLI sends (updateMaskOf) is what the AdminService
 * reads (maskedChanges), field for field. The paths are the ones the README
 * documents for UpdateClient and UpdateApiKey.
 */
describe("AdminService update_mask", () => {
  const client = clientChanges(
    create(ClientInfoSchema, {
      id: "masked",
      scopes: ["orders:read"],
      audiences: ["https://api.test"],
      tokenLifetimeSeconds: 60n,
      jwksJson: '{"keys":[]}',
      jwksUri: "https://keys.test/jwks.json",
      tokenEndpointAuthMethods: ["private_key_jwt"],
      grantTypes: ["client_credentials"],
    }),
  );
  const apiKey = apiKeyChanges(create(ApiKeyInfoSchema, { name: "masked", scopes: ["passkey:read"], grantLifetimeSeconds: 120n }));

  it.each([
    ["UpdateClient", ClientInfoSchema, client, ["scopes", "audiences", "token_lifetime_seconds", "jwks_json", "jwks_uri", "token_endpoint_auth_methods", "grant_types"]],
    ["UpdateApiKey", ApiKeyInfoSchema, apiKey, ["scopes", "grant_lifetime_seconds"]],
  ] as const)("%s: every settable field has its .proto name, and the mask reads back as the same changes", (_rpc, schema, all, paths) => {
    const mask = updateMaskOf(schema, all);
    expect(mask.paths).toEqual(paths);
    expect(maskedChanges<object>(schema, mask, all)).toEqual(all);
  });

  it("a mask changes the fields it names and no other, whatever the message holds", () => {
    const mask = create(FieldMaskSchema, { paths: ["token_lifetime_seconds", "jwks_uri"] });
    expect(maskedChanges(ClientInfoSchema, mask, client)).toEqual({ tokenLifetimeSeconds: 60, jwksUri: "https://keys.test/jwks.json" });
  });

  it("a field set to its empty value is in the mask (it clears the field); an unset one is not", () => {
    expect(updateMaskOf(ClientInfoSchema, { scopes: undefined, jwksJson: "", jwksUri: "https://k.test" }).paths).toEqual(["jwks_json", "jwks_uri"]);
  });

  it.each([
    ["no mask", undefined, /^update_mask must name at least one field$/],
    ["an empty mask", [], /^update_mask must name at least one field$/],
    ["a field that cannot change", ["id"], /^update_mask names fields that cannot be updated: id$/],
    ["the camelCase name instead of the .proto one", ["tokenLifetimeSeconds", "scopes"], /^update_mask names fields that cannot be updated: tokenLifetimeSeconds$/],
    ["output-only fields", ["source", "create_time"], /^update_mask names fields that cannot be updated: source, create_time$/],
  ])("%s: invalid_request", (_case, paths, message) => {
    const mask = paths === undefined ? undefined : create(FieldMaskSchema, { paths });
    const failure = (() => {
      try {
        maskedChanges(ClientInfoSchema, mask, client);
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(OAuthError);
    expect((failure as OAuthError).error).toBe("invalid_request");
    expect((failure as OAuthError).message).toMatch(message);
  });
});
