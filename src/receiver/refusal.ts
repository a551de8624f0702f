/** A request refused: the status it is answered with and the reason, which the log and the answer give. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
