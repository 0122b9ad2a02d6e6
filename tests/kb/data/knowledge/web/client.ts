// Browser client for the Orbitra share links.

/** Build the public URL of a share link from its identifier. */
export function shareUrl(shareId: string): string {
  return `https://share.orbitra.example/s/${encodeURIComponent(shareId)}`;
}

/** Share links expire after this many days unless the owner pins them. */
export const SHARE_LINK_TTL_DAYS = 14;

export class ShareClient {
  constructor(private readonly token: string) {}

  /** Revoke a share link so that it stops working immediately. */
  async revoke(shareId: string): Promise<void> {
    await fetch(`/api/shares/${shareId}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${this.token}` },
    });
  }

  /** Count how many times a share link was downloaded. */
  async downloadCount(shareId: string): Promise<number> {
    const reply = await fetch(`/api/shares/${shareId}/stats`);
    const body = await reply.json();
    return body.downloads;
  }
}
