import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { ClientTokenCutoffs } from "./client-token-cutoffs.js";
import type { Clock } from "./clock.js";
import type { RevocationList } from "./revocation-list.js";

/** The record of a named access token (CreateAccessToken): never the token itself. */
export interface NamedAccessToken {
  /** The token's `jti`. */
  id: string;
  name: string;
  clientId: string;
  scopes: string[];
  audiences: string[];
  /** The token's issue instant, ms. */
  createdAt: number;
  /** The token's `exp`, in ms. */
  expiresAt: number;
  /** The client id of the administrator who created it. */
  createdBy: string;
}

/** The most live named tokens a tenant may have by default: every create and list reads them all. */
export const MAX_LIVE_NAMED_TOKENS = 1_000;

/**
 * The records of a tenant's named access tokens, kept only while their
 * tokens are in force: a hash of records by id, and a hash of ids by client
 * and name (HSETNX keeps names unique among a client's live tokens), both in
 * one Cluster slot. Records of tokens that have ended are pruned whenever
 * the records are read in full (every create and every list): expired (by
 * the domain's clock, as the token's own `exp` is), revoked by `jti` however
 * that happened (RevokeAccessToken, or Revoke with the token), or cut off
 * with all the client's tokens (RevokeClientTokens, DeleteClient). So the
 * hashes hold the live tokens and those ended since the last such read, not
 * history; and at most `maxLive` live ones (concurrent creates may pass it by a few).
 */
export class NamedAccessTokens {
  private readonly maxLive: number;

  constructor(private readonly deps: { store: Store; clock: Clock; revocations: RevocationList; cutoffs: ClientTokenCutoffs; maxLive?: number }) {
    this.maxLive = deps.maxLive ?? MAX_LIVE_NAMED_TOKENS;
  }

  /**
   * Stores the record, unless the tenant has `maxLive` live named tokens
   * ("full") or a live named token of the same client has the name
   * ("name_taken"); then stores nothing. A name left behind by a token that
   * has expired or was revoked is taken over.
   *
   * The record is written before the name is claimed, so a claim always has
   * its record: a concurrent create that finds the name claimed and no live
   * record behind it knows the claim is stale, not still being written (it
   * took such a claim over, and both creates were added under one name).
   */
  async add(record: NamedAccessToken): Promise<"added" | "full" | "name_taken"> {
    if ((await this.live()).length >= this.maxLive) return "full";
    await this.deps.store.hashSet(storeKeys.accessTokens(), record.id, JSON.stringify(record));
    if (await this.claimName(record)) return "added";
    await this.deps.store.hashDelete(storeKeys.accessTokens(), record.id);
    return "name_taken";
  }

  /** Claims the record's name unless a live token of its client holds it; a stale claim is replaced only while it still holds what was read. */
  private async claimName(record: NamedAccessToken): Promise<boolean> {
    const names = storeKeys.accessTokenNames();
    const field = nameField(record.clientId, record.name);
    // A few turns: a stale claim may be removed (pruned) or replaced between the reads.
    for (let turn = 0; turn < 3; turn++) {
      if (await this.deps.store.hashSet(names, field, record.id, { onlyIfAbsent: true })) return true;
      const holder = await this.deps.store.hashGet(names, field);
      if (holder === null) continue;
      if ((await this.find(holder)) !== undefined) return false;
      // Of concurrent creators taking over a stale name, the compare-and-set lets one win.
      if (await this.deps.store.hashCompareAndSet(names, field, holder, record.id)) return true;
    }
    return false;
  }

  /** The live record with this id, or undefined (unknown, or its token has ended: then pruned). */
  async find(id: string): Promise<NamedAccessToken | undefined> {
    if (id === "") return undefined;
    const record = parseRecord(id, await this.deps.store.hashGet(storeKeys.accessTokens(), id));
    if (record === undefined) return undefined;
    return (await this.prune([record]))[0];
  }

  /** Every live record, pruning those of tokens that have ended. */
  async live(): Promise<NamedAccessToken[]> {
    const records: NamedAccessToken[] = [];
    for (const [id, raw] of await this.deps.store.hashEntries(storeKeys.accessTokens())) {
      const record = parseRecord(id, raw);
      if (record === undefined) await this.deps.store.hashDelete(storeKeys.accessTokens(), id);
      else records.push(record);
    }
    return this.prune(records);
  }

  /** The records whose tokens are in force; the others are removed. */
  private async prune(records: NamedAccessToken[]): Promise<NamedAccessToken[]> {
    const now = this.deps.clock.now();
    const unexpired = records.filter((record) => record.expiresAt > now);
    const dead = records.filter((record) => record.expiresAt <= now);
    // Asked all in one turn: one round trip on a pipelining store.
    const clientIds = [...new Set(unexpired.map((record) => record.clientId))];
    const [revoked, cutoffs] = await Promise.all([
      Promise.all(unexpired.map((record) => this.deps.revocations.isRevoked(record.id))),
      Promise.all(clientIds.map((clientId) => this.deps.cutoffs.cutoff(clientId))),
    ]);
    const cutoffOf = new Map(clientIds.map((clientId, index) => [clientId, cutoffs[index]]));
    const live: NamedAccessToken[] = [];
    unexpired.forEach((record, index) => {
      // As ActiveAccessTokens judges: a token issued at or before its client's cut-off is inactive.
      const cutOff = record.createdAt <= (cutoffOf.get(record.clientId) ?? Number.NEGATIVE_INFINITY);
      (revoked[index] || cutOff ? dead : live).push(record);
    });
    await Promise.all(dead.map((record) => this.remove(record)));
    return live;
  }

  /** Drops the record and frees its name (unless a newer token of the client holds it). */
  async remove(record: NamedAccessToken): Promise<void> {
    const names = storeKeys.accessTokenNames();
    const field = nameField(record.clientId, record.name);
    await this.deps.store.hashDelete(storeKeys.accessTokens(), record.id);
    // Only while this token holds it: a create may have taken the stale claim over since the record went.
    await this.deps.store.hashCompareAndDelete(names, field, record.id);
  }

  /** Drops the records of a deleted client's tokens (the tokens themselves die with the client). */
  async removeClient(clientId: string): Promise<void> {
    const records = (await this.live()).filter((record) => record.clientId === clientId);
    await Promise.all(records.map((record) => this.remove(record)));
  }
}

/** A name has no control characters (CreateAccessToken checks), so a newline separates it from the client id. */
const nameField = (clientId: string, name: string) => `${clientId}\n${name}`;

function parseRecord(id: string, raw: string | null): NamedAccessToken | undefined {
  if (raw === null) return undefined;
  try {
    const record = JSON.parse(raw) as NamedAccessToken;
    return record.id === id && typeof record.expiresAt === "number" ? record : undefined;
  } catch {
    return undefined;
  }
}
