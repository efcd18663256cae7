import { describe, expect, it } from "vitest";
import { allPages } from "../../src/client/all-pages.js";

/** allPages: every item of a paged List call, in order, asking for each page with the previous one's token. */
function pagedList(items: number[], pageSize: number) {
  const asked: string[] = [];
  const list = async (pageToken: string) => {
    asked.push(pageToken);
    const start = pageToken === "" ? 0 : Number(pageToken);
    const end = start + pageSize;
    return { items: items.slice(start, end), nextPageToken: end < items.length ? String(end) : "" };
  };
  return { list, asked };
}

describe("allPages", () => {
  it("reads page after page until the token is empty, each page asked for with the last one's token", async () => {
    const { list, asked } = pagedList([1, 2, 3, 4, 5, 6, 7], 3);
    expect(await allPages(list)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(asked).toEqual(["", "3", "6"]);
  });

  it("asks once for an empty list", async () => {
    const { list, asked } = pagedList([], 3);
    expect(await allPages(list)).toEqual([]);
    expect(asked).toEqual([""]);
  });

  it("stops after maxPages pages", async () => {
    const { list, asked } = pagedList([1, 2, 3, 4, 5, 6, 7], 2);
    expect(await allPages(list, 2)).toEqual([1, 2, 3, 4]);
    expect(asked).toEqual(["", "2"]);
  });

  it("rejects with the failure of a page", async () => {
    const failing = async (pageToken: string) => {
      if (pageToken !== "") throw new Error("page 2 failed");
      return { items: [1], nextPageToken: "next" };
    };
    await expect(allPages(failing)).rejects.toThrow("page 2 failed");
  });
});
