/**
 * The error types of the API's error body (`error.type`). `request_too_large` is sent by the API even though
 * the SDK's union does not list it.
 */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error'
  | 'conflict_error';

/** The HTTP status the real API pairs with each error type. */
export const STATUS_OF: Record<ApiErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The error type the real API pairs with a status; unknown 5xx are `api_error`, other 4xx `invalid_request_error`. */
export function typeOfStatus(status: number): ApiErrorType {
  for (const [type, s] of Object.entries(STATUS_OF)) if (s === status) return type as ApiErrorType;
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

/** The JSON body of every non-2xx response, and of an `errored` batch result. */
export interface ErrorBody {
  type: 'error';
  error: { type: string; message: string };
  request_id: string | null;
}

/**
 * An error the emulator answers with, as the API would. Thrown anywhere below the HTTP layer and turned into
 * `{type:"error", error:{type, message}, request_id}` with the matching status.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly headers: Record<string, string>;
  constructor(type: ApiErrorType, message: string, options: { status?: number; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.type = type;
    this.status = options.status ?? STATUS_OF[type];
    this.headers = options.headers ?? {};
  }

  body(requestId: string | null): ErrorBody {
    return { type: 'error', error: { type: this.type, message: this.message }, request_id: requestId };
  }
}

export const invalidRequest = (message: string) => new ApiError('invalid_request_error', message);
export const notFound = (message: string) => new ApiError('not_found_error', message);
