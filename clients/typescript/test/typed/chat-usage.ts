// Calls every command of the chat example through the generated typed wrapper
// (examples/chat/contract/chat.ts), so that `npm run check:contract` (tsc --noEmit) fails when a
// Rust payload or reply type changes in a way this code no longer fits. contract.test.mjs checks
// that every command of the AsyncAPI document is called here.
import type { Client } from "swoft-ws-client";
import { RequestError } from "swoft-ws-client";
import {
  chat,
  echo,
  type ChatErrorCode,
  type ChatErrors,
  type Delivered,
  type Members,
  type Presence,
  type RoomMessage,
  type RoomReply,
  type Whisper,
} from "../../../../examples/chat/contract/chat";

export async function usage(client: Client): Promise<void> {
  const c = chat(client);
  const joined: Members = await c.room.join({ room: "lobby" }, { timeout: 1000 });
  const names: string[] = joined.members;
  const sent: Delivered = await c.room.send({ room: "lobby", text: "hi" });
  const count: number = sent.delivered;
  const members: Members = await c.room.members({ room: "lobby" });
  const left: RoomReply = await c.room.leave({ room: "lobby" });
  const whispered: Delivered = await c.chat.whisper({ to: "bob", text: "psst" });
  const echoed: unknown = await echo(client).echo.send({ anything: [1, 2] });

  const offMessage = c.on("room.message", (m: RoomMessage) => m.text.toUpperCase());
  c.on("room.joined", (p: Presence) => p.name);
  c.on("room.left", (p) => p.room);
  c.on("chat.whisper", (w: Whisper) => w.from);
  offMessage();

  try {
    await c.room.send({ room: "elsewhere", text: "x" });
  } catch (e) {
    if (e instanceof RequestError) {
      const code = e.code as ChatErrors["room.send"];
      const known: ChatErrorCode = code;
      void known;
    }
  }
  void [names, count, members, left, whispered, echoed];
}

export async function misuse(client: Client): Promise<void> {
  const c = chat(client);
  // @ts-expect-error `room.join` takes `{room}`
  await c.room.join({ rooms: "lobby" });
  // @ts-expect-error `room.send` needs its text
  await c.room.send({ room: "lobby" });
  // @ts-expect-error no such push
  c.on("room.danced", () => {});
  // @ts-expect-error a push's data has its type
  c.on("room.message", (m: Members) => m.members);
  // @ts-expect-error not an error code of /chat
  const code: ChatErrorCode = "teapot";
  void code;
}
