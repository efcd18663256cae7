/** One page of a List call: its items and the token of the next page ("" after the last). */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** Every item of a paged List call, page after page (each asked for with the previous one's token), up to `maxPages` pages. */
export async function allPages<T>(list: (pageToken: string) => Promise<Page<T>>, maxPages = Number.POSITIVE_INFINITY): Promise<T[]> {
  const items: T[] = [];
  let pageToken = "";
  for (let page = 0; page < maxPages; page++) {
    const response = await list(pageToken);
    items.push(...response.items);
    pageToken = response.nextPageToken;
    if (pageToken === "") break;
  }
  return items;
}
