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
  type PollAnswer,
  type PollAsk,
  type PollResult,
  type Presence,
  type RoomMessage,
  type RoomReply,
  type Tally,
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
  const poll: PollResult = await c.room.poll({ room: "lobby", question: "Tea?", options: ["yes", "no"] });
  const tallies: Tally[] = poll.tallies;
  const notVoted: number = poll.refused + poll.unanswered;
  await c.room.poll({ room: "lobby", question: "Now?", options: ["yes", "no"], timeout_ms: 2000 });
  const echoed: unknown = await echo(client).echo.send({ anything: [1, 2] });

  const offMessage = c.on("room.message", (m: RoomMessage) => m.text.toUpperCase());
  c.on("room.joined", (p: Presence) => p.name);
  c.on("room.left", (p) => p.room);
  c.on("chat.whisper", (w: Whisper) => w.from);
  offMessage();

  // The server's requests: a typed handler per request, answering with its reply type.
  const offAsk = c.handle("poll.ask", (q: PollAsk): PollAnswer => ({ choice: q.options.length - 1 }));
  c.handle("poll.ask", async (q) => ({ choice: q.options.indexOf("yes") }));
  offAsk();

  try {
    await c.room.send({ room: "elsewhere", text: "x" });
  } catch (e) {
    if (e instanceof RequestError) {
      const code = e.code as ChatErrors["room.send"];
      const known: ChatErrorCode = code;
      void known;
    }
  }
  void [names, count, members, left, whispered, echoed, tallies, notVoted];
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
  // @ts-expect-error a poll needs its options
  await c.room.poll({ room: "lobby", question: "Tea?" });
  // @ts-expect-error `poll.ask` is answered with `{choice}`
  c.handle("poll.ask", () => ({ option: "yes" }));
  // @ts-expect-error nor asynchronously with anything else
  c.handle("poll.ask", async () => "yes");
  // @ts-expect-error a push is not a request
  c.handle("room.message", () => ({ choice: 0 }));
  // @ts-expect-error a request is not a push
  c.on("poll.ask", () => {});
  // @ts-expect-error not an error code of /chat
  const code: ChatErrorCode = "teapot";
  void code;
}
