// idmint.d.ts compiled without the DOM lib (and without @types/node): see tsconfig.nodom.json.

import { IdmintError, VERSION, createClient, decodeClaims, isExpired, type Session } from "idmint";

const client = createClient({ apiKey: "pk_...", baseUrl: "http://127.0.0.1:8000", tabSync: false, pageEvents: false });
export const codes: string[] = [];
client.on("error").subscribe((error: IdmintError) => codes.push(error.code));
export const session: Promise<Session> = client.setAuthProvider({
  user: { userId: "user-1" },
  generateToken: async () => ({ status: 200, text: async () => "eyJ..." }),
});
export const checked = [VERSION, isExpired(decodeClaims("a.b.c"))];
