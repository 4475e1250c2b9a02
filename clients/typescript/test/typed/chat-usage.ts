// Calls every command of the chat example through the generated typed wrapper
// (examples/chat/contract/chat.ts), so that `npm run check:contract` (tsc --noEmit) fails when a
// Rust payload or reply type changes in a way this code no longer fits. contract.test.mjs checks
// that every command of the AsyncAPI document is called here.
import type { Client } from "swoft-ws-client";
import { RequestError } from "swoft-ws-client";
import {
  chat,
  chatRecovery,
  echo,
  type ChatErrorCode,
  type ChatErrors,
  type Delivered,
  type Members,
  type PollAnswer,
  type PollAsk,
  type PollResult,
  type Presence,
  type ResumeReason,
  type RoomMessage,
  type RoomReply,
  type SessionInfo,
  type SessionOutcome,
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

  // /chat is resumable: the `$session` data, the resume's outcome with its reason typed.
  const resumable: true = c.recovery.resumable;
  const windowMs: number = chatRecovery.windowMs;
  const offResumed = c.onResumed((o: SessionOutcome) => {
    const why: ResumeReason | number = o.resumed ? o.replayed : o.reason;
    void why;
  });
  // (`Client` handles `$session` itself; a hand-written client reads it off the first frame.)
  const first: { cmd: string; data?: unknown } = JSON.parse('{"cmd":"$session","data":{"token":"t","resumed":false}}');
  const session = first.cmd === "$session" ? (first.data as SessionInfo) : undefined;
  const outcome: boolean | number | ResumeReason | undefined = session && (session.resumed ? session.replayed : session.reason);
  offResumed();

  try {
    await c.room.send({ room: "elsewhere", text: "x" });
  } catch (e) {
    if (e instanceof RequestError) {
      const code = e.code as ChatErrors["room.send"];
      const known: ChatErrorCode = code;
      void known;
    }
  }
  void [names, count, members, left, whispered, echoed, tallies, notVoted, resumable, windowMs, outcome];
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
  // @ts-expect-error not a reason a resume is refused for
  const reason: ResumeReason = "forgotten";
  // @ts-expect-error an outcome's reason is one of the server's
  c.onResumed((o: { resumed: false; reason: "teapot" }) => o.reason);
  void [code, reason];
}
