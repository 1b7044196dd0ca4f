# ruff: noqa: RUF001, E501 -- the server's words verbatim (Cyrillic, Georgian, CJK; long)
"""PostgreSQL's refusal of a connection, read from its SQLSTATE, or from its words in any language.

A refusal is the server answering "not for what `state.url` says": an unknown database or role,
a role that may not log in, a wrong password, no `pg_hba.conf` line, no CONNECT right. The
SQLSTATE decides (PostgreSQL's errcodes appendix: "applications that need to know which error
condition has occurred should usually test the error code, rather than looking at the textual
error message", postgresql.org/docs/current/errcodes-appendix.html): class 28,
invalid_authorization_specification (28000) and invalid_password (28P01); 3D000,
invalid_catalog_name; 42501, insufficient_privilege, when it refuses the database itself.

A connection the server refuses has no SQLSTATE in psycopg 3, though: libpq keeps the server's
error fields of a failed connection to itself and gives only `PQerrorMessage`, so psycopg's
`OperationalError` has `sqlstate` None, an empty `diag` and no `pgresult` (checked with psycopg
3.3.9 and libpq 18; psycopg/psycopg#1188, open). Its text is all there is, and the server words
it in its own `lc_messages` — the server-wide one: a role's or database's `SET lc_messages`
applies only once the session exists, after authentication. So the text is matched against the
server's message in English and in the 12 translations Debian's PostgreSQL 15 ships (`_WORDS`,
read from its catalogs, `/usr/share/locale/*/LC_MESSAGES/postgres-15.mo`, with `gettext`).
A server in a language not here, or a later release whose translation is worded otherwise,
still has its refusals taken for an outage, as before: retried, and logged in its words.
MariaDB needs none of this: its refusals carry their error number whatever its `lc_messages`.
"""

from __future__ import annotations

import functools
import re

#: SQLSTATEs that refuse a connection whatever stage they come from.
_REFUSAL_STATES = frozenset({"28000", "28P01", "3D000"})
#: insufficient_privilege: a refusal when it refuses the database (no CONNECT right, before any
#: session); a statement it refuses is a statement error like any other.
_INSUFFICIENT_PRIVILEGE = "42501"

#: The server's messages for a refused connection, by their English id (the SQLSTATE in the
#: comment above each), then each translation (the language after it).
_WORDS: dict[str, tuple[str, ...]] = {
    # 3D000 invalid_catalog_name
    'database "%s" does not exist': (
        "Datenbank »%s« existiert nicht",  # de
        "no existe la base de datos «%s»",  # es
        "la base de données « %s » n'existe pas",  # fr
        'il database "%s" non esiste',  # it
        'データベース"%s"は存在しません',  # ja
        'მონაცემთა ბაზა "%s" არ არსებობს',  # ka
        '"%s" 데이터베이스 없음',  # ko
        'база данных "%s" не существует',  # ru
        'databasen "%s" existerar inte',  # sv
        'бази даних "%s" не існує',  # uk
        '数据库 "%s" 不存在',  # zh_CN
        '資料庫 "%s" 不存在',  # zh_TW
    ),
    # 28000 invalid_authorization_specification
    'role "%s" does not exist': (
        "Rolle »%s« existiert nicht",  # de
        "no existe el rol «%s»",  # es
        "le rôle « %s » n'existe pas",  # fr
        'il ruolo "%s" non esiste',  # it
        'ロール"%s"は存在しません',  # ja
        'როლი არ არსებობს: "%s"',  # ka
        '"%s" 롤(role) 없음',  # ko
        'роль "%s" не существует',  # ru
        'rollen "%s" finns inte',  # sv
        'роль "%s" не існує',  # uk
        '角色 "%s" 不存在',  # zh_CN
        '角色 "%s" 不存在',  # zh_TW
    ),
    # 28000
    'role "%s" is not permitted to log in': (
        "Rolle »%s« hat keine Berechtigung zum Einloggen",  # de
        "al rol «%s» no se le permite conectarse",  # es
        "le rôle « %s » n'est pas autorisé à se connecter",  # fr
        'al ruolo "%s" non è consentito effettuare il login',  # it
        'ロール"%s"はログインが許可されません',  # ja
        "როლს შესვლის უფლება არ აქვს: %s",  # ka
        '"%s" 롤은 접속을 허용하지 않음',  # ko
        'для роли "%s" вход запрещён',  # ru
        'roll "%s" tillåts inte logga in',  # sv
        'для ролі "%s" вхід не дозволений',  # uk
        '不允许角色 "%s" 进行登录',  # zh_CN
        '不允許角色 "%s" 登入',  # zh_TW
    ),
    # 42501 insufficient_privilege (no CONNECT right)
    'permission denied for database "%s"': (
        "keine Berechtigung für Datenbank »%s«",  # de
        "permiso denegado a la base de datos «%s»",  # es
        "droit refusé pour la base de données « %s »",  # fr
        'permesso negato per il database "%s"',  # it
        'データベース"%s"へのアクセスが拒否されました',  # ja
        'წვდომა აკრძალულია ბაზაზე: "%s"',  # ka
        '"%s" 데이터베이스 액세스 권한 없음',  # ko
        'доступ к базе "%s" запрещён',  # ru
        'rättighet saknas för databas "%s"',  # sv
        'доступ до бази даних "%s" відхилений',  # uk
        '访问数据库 "%s" 的权限不足',  # zh_CN
        '資料庫 "%s" 權限不足',  # zh_TW
    ),
    # 28000
    'no pg_hba.conf entry for host "%s", user "%s", database "%s", %s': (
        "kein pg_hba.conf-Eintrag für Host »%s«, Benutzer »%s«, Datenbank »%s«, %s",  # de
        "no hay una línea en pg_hba.conf para «%s», usuario «%s», base de datos «%s», %s",  # es
        "aucune entrée dans pg_hba.conf pour l'hôte « %s », utilisateur « %s »,\nbase de données « %s », %s",  # fr
        'nessuna voce in pg_hba.conf per l\'host "%s", utente "%s", database "%s", %s',  # it
        'pg_hba.conf にホスト"%s"、ユーザー"%s"、データベース"%s, %s用のエントリがありません',  # ja
        'pg_hba.conf-ში ჩანაწერი ჰოსტისთვის "%s" მომხმარებელი "%s", ბაზა "%s", %s აღმოჩენილი არაა',  # ka
        '호스트 "%s", 사용자 "%s", 데이터베이스 "%s", %s 연결에 대한 설정이 pg_hba.conf 파일에 없습니다.',  # ko
        'в pg_hba.conf нет записи для компьютера "%s", пользователя "%s", базы "%s", %s',  # ru
        'ingen rad i pg_hba.conf för värd "%s", användare "%s", databas "%s", %s',  # sv
        'в pg_hba.conf немає запису для хосту "%s", користувача "%s", бази даних "%s", %s',  # uk
        '没有适用于主机 "%s", 用户 "%s", 数据库 "%s", %s 的 pg_hba.conf 条目',  # zh_CN
        '沒有主機 "%s", 使用者 "%s", 資料庫 "%s", %s 適用的 pg_hba.conf 項目',  # zh_TW
    ),
    # 28000
    'pg_hba.conf rejects connection for host "%s", user "%s", database "%s", %s': (
        "pg_hba.conf lehnt Verbindung ab für Host »%s«, Benutzer »%s«, Datenbank »%s«, %s",  # de
        "pg_hba.conf rechaza la conexión para el servidor «%s», usuario «%s», base de datos «%s», %s",  # es
        "pg_hba.conf rejette la connexion pour l'hôte « %s », utilisateur « %s », base\nde données « %s », %s",  # fr
        'pg_hba.conf rifiuta connessioni per l\'host "%s", utente "%s", database "%s", %s',  # it
        'pg_hba.conf の設定でホスト "%s"、ユーザー "%s"、データベース "%s", %sの接続を拒否しました',  # ja
        'pg_hba.conf უარყოფს მიერთებას ჰოსტისთვის "%s", მომხმარებელი "%s", ბაზა "%s", %s',  # ka
        '호스트 "%s", 사용자 "%s", 데이터베이스 "%s",  %s 연결이 pg_hba.conf 파일 설정에 따라 거부됩니다',  # ko
        'pg_hba.conf отвергает подключение: компьютер "%s", пользователь "%s", база данных "%s", %s',  # ru
        'pg_hba.conf avvisar anslutning för värd "%s", användare "%s", databas "%s", %s',  # sv
        'pg_hba.conf відхиляє підключення для хосту "%s", користувача "%s", бази даних "%s", %s',  # uk
        'pg_hba.conf 拒绝来自主机 "%s", 用户 "%s", 数据库 "%s", %s 的连接',  # zh_CN
        'pg_hba.conf 拒絕主機 "%s" 連線, 使用者 "%s", 資料庫 "%s", %s',  # zh_TW
    ),
    # 28P01 invalid_password
    'password authentication failed for user "%s"': (
        "Passwort-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación password falló para el usuario «%s»",  # es
        "authentification par mot de passe échouée pour l'utilisateur  « %s »",  # fr
        'autenticazione con password fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のパスワード認証に失敗しました',  # ja
        'პაროლით ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 password 인증을 실패했습니다',  # ko
        'пользователь "%s" не прошёл проверку подлинности (по паролю)',  # ru
        'Lösenordsautentisering misslyckades för användare "%s"',  # sv
        'користувач "%s" не пройшов автентифікацію за допомогою пароля',  # uk
        '用户 "%s" 的密码认证失败',  # zh_CN
        '密碼驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    '"trust" authentication failed for user "%s"': (
        "»trust«-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación «trust» falló para el usuario «%s»",  # es
        "authentification « trust » échouée pour l'utilisateur « %s »",  # fr
        'autenticazione "trust" fallita per l\'utente "%s"',  # it
        'ユーザー"%s"の"trust"認証に失敗しました',  # ja
        '"ნდობით" ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 "trust" 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности ("trust")',  # ru
        '"trust"-autentisering misslyckades för användare "%s"',  # sv
        'користувач "%s" не пройшов автентифікацію "trust"',  # uk
        '用户 "%s" 的 "trust" 认证失败',  # zh_CN
        '"trust" 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'BSD authentication failed for user "%s"': (
        "BSD-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación BSD falló para el usuario «%s»",  # es
        "authentification BSD échouée pour l'utilisateur « %s »",  # fr
        'Autenticazione BSD fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のBSD認証に失敗しました',  # ja
        'BSD ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '"%s" 사용자에 대한 BSD 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (BSD)',  # ru
        'BSD-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію BSD',  # uk
        '用户 "%s" 的 BSD 认证失败',  # zh_CN
        'BSD 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'GSSAPI authentication failed for user "%s"': (
        "GSSAPI-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación GSSAPI falló para el usuario «%s»",  # es
        "authentification GSSAPI échouée pour l'utilisateur « %s »",  # fr
        'autenticazione GSSAPI fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のGSSAPI認証に失敗しました',  # ja
        'GSSAPI ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '"%s" 사용자에 대한 GSSAPI 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (GSSAPI)',  # ru
        'GSSAPI-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію GSSAPI',  # uk
        '用户 "%s" 的 GSSAPI 认证失败',  # zh_CN
        'GSSAPI 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'Ident authentication failed for user "%s"': (
        "Ident-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación Ident falló para el usuario «%s»",  # es
        "Échec de l'authentification Ident pour l'utilisateur « %s »",  # fr
        'Autenticazione Ident fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のIdent認証に失敗しました',  # ja
        'იდენტიფიკაციით ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 Ident 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (Ident)',  # ru
        'Ident-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію Ident',  # uk
        '用户 "%s" 的 Ident 认证失败',  # zh_CN
        'Ident 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'LDAP authentication failed for user "%s"': (
        "LDAP-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación LDAP falló para el usuario «%s»",  # es
        "authentification LDAP échouée pour l'utilisateur « %s »",  # fr
        'Autenticazione LDAP fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のLDAP認証に失敗しました',  # ja
        'LDAP ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '"%s" 사용자의 LDAP 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (LDAP)',  # ru
        'LDAP-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію LDAP',  # uk
        '用户 "%s" 的 LDAP 认证失败',  # zh_CN
        'LDAP 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'PAM authentication failed for user "%s"': (
        "PAM-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación PAM falló para el usuario «%s»",  # es
        "authentification PAM échouée pour l'utilisateur « %s »",  # fr
        'Autenticazione PAM fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のPAM認証に失敗しました',  # ja
        'PAM ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 PAM 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (PAM)',  # ru
        'PAM-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію PAM',  # uk
        '用户 "%s" 的 PAM 认证失败',  # zh_CN
        'PAM 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'Peer authentication failed for user "%s"': (
        "Peer-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación Peer falló para el usuario «%s»",  # es
        "authentification peer échouée pour l'utilisateur « %s »",  # fr
        'Autenticazione Peer fallita per l\'utente "%s"',  # it
        'ユーザー"%s"で対向(peer)認証に失敗しました',  # ja
        'პარტნიორის ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 peer 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (Peer)',  # ru
        'Peer-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію Peer',  # uk
        '用户 "%s" 的对等认证失败',  # zh_CN
        'Peer 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'RADIUS authentication failed for user "%s"': (
        "RADIUS-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación RADIUS falló para el usuario «%s»",  # es
        "authentification RADIUS échouée pour l'utilisateur « %s »",  # fr
        'Autenticazione RADIUS fallita per l\'utente "%s"',  # it
        'ユーザー"%s"の RADIUS 認証に失敗しました',  # ja
        'რადიუსით ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 RADIUS 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (RADIUS)',  # ru
        'RADOUS-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію RADIUS',  # uk
        '用户 "%s" 的 RADIUS 认证失败',  # zh_CN
        'RADIUS 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'SSPI authentication failed for user "%s"': (
        "SSPI-Authentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación SSPI falló para el usuario «%s»",  # es
        "authentification SSPI échouée pour l'utilisateur « %s »",  # fr
        'Autenticazione SSPI fallita per l\'utente "%s"',  # it
        'ユーザー"%s"のSSPI認証に失敗しました',  # ja
        'SSPI ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '"%s" 사용자에 대한 SSPI 인증을 실패했습니다.',  # ko
        'пользователь "%s" не прошёл проверку подлинности (SSPI)',  # ru
        'SSPI-autentisering misslyckades för användare "%s"',  # sv
        'Користувач "%s" не пройшов автентифікацію SSPI',  # uk
        '用户 "%s" 的 SSPI 认证失败',  # zh_CN
        'SSPI 驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'authentication failed for user "%s": host rejected': (
        "Authentifizierung für Benutzer »%s« fehlgeschlagen: Host abgelehnt",  # de
        "la autentificación falló para el usuario «%s»: anfitrión rechazado",  # es
        "authentification échouée pour l'utilisateur « %s » : hôte rejeté",  # fr
        'autenticazione fallita per l\'utente "%s": host rifiutato',  # it
        'ユーザー"%s"の認証に失敗しました: ホストを拒絶しました',  # ja
        'ავთენტიკაციის შეცდომა მომხმარებლისთვის "%s": ჰოსტმა ის უარყო',  # ka
        '사용자 "%s"의 인증을 실패했습니다: 호스트 거부됨',  # ko
        'пользователь "%s" не прошёл проверку подлинности: не разрешённый компьютер',  # ru
        'autentisering misslyckades för användare "%s": värd blockerad',  # sv
        'користувач "%s" не пройшов автентифікацію: відхилений хост',  # uk
        '用户 "%s" 认证失败: 主机连接被拒绝',  # zh_CN
        '驗證使用者 "%s" 失敗: 主機被拒絕',  # zh_TW
    ),
    # 28000
    'authentication failed for user "%s": invalid authentication method': (
        "Authentifizierung für Benutzer »%s« fehlgeschlagen: ungültige Authentifizierungsmethode",  # de
        "la autentificación falló para el usuario «%s»: método de autentificación no válido",  # es
        "authentification échouée pour l'utilisateur « %s » : méthode d'authentification invalide",  # fr
        'autenticazione fallita per l\'utente "%s": metodo di autenticazione non valido',  # it
        'ユーザー"%s"の認証に失敗しました: 認証方式が不正です',  # ja
        'ავთენტიკაციის შეცდომა მომხმარებლისთვის "%s": არასწორი ავთენტიკაციის მეთოდი',  # ka
        '사용자 "%s"의 인증을 실패했습니다: 잘못된 인증 방법',  # ko
        'пользователь "%s" не прошёл проверку подлинности: неверный метод проверки',  # ru
        'autentisering misslyckades för användare "%s": okänd autentiseringsmetod',  # sv
        'користувач "%s" не пройшов автентифікацію: неприпустимий метод автентифікації',  # uk
        '用户 "%s" 认证失败: 无效的认证方法',  # zh_CN
        '驗證使用者 "%s" 失敗: 無效的驗證方式',  # zh_TW
    ),
    # 28000
    'certificate authentication failed for user "%s"': (
        "Zertifikatauthentifizierung für Benutzer »%s« fehlgeschlagen",  # de
        "la autentificación por certificado falló para el usuario «%s»",  # es
        "authentification par le certificat échouée pour l'utilisateur « %s »",  # fr
        'autenticazione con certificato fallita per l\'utente "%s"',  # it
        'ユーザー"%s"の証明書認証に失敗しました',  # ja
        'სერტიფიკატით ავთენტიფიკაცია მომხმარებლისთვის "%s" ვერ მოხერხდა',  # ka
        '사용자 "%s"의 인증서 인증을 실패했습니다',  # ko
        'пользователь "%s" не прошёл проверку подлинности (по сертификату)',  # ru
        'certifikat-autentisering misslyckades för användare "%s"',  # sv
        'користувач "%s" не пройшов автентифікацію за сертифікатом',  # uk
        '用户 "%s" 的证书认证失败',  # zh_CN
        '憑證驗證使用者 "%s" 失敗',  # zh_TW
    ),
    # 28000
    'certificate authentication failed for user "%s": client certificate contains no user name': (
        "Zertifikatauthentifizierung für Benutzer »%s« fehlgeschlagen: Client-Zertifikat enthält keinen Benutzernamen",  # de
        "la autentificación con certificado falló para el usuario «%s»: el certificado de cliente no contiene un nombre de usuario",  # es
        "l'authentification par le certificat a échoué pour l'utilisateur « %s » :\nle certificat du client ne contient aucun nom d'utilisateur",  # fr
        'autenticazione con certificato fallita per l\'utente "%s": il certificato del client non contiene alcun nome utente',  # it
        'ユーザー "%s" の証明書認証に失敗しました: クライアント証明書にユーザー名が含まれていません',  # ja
        'სერტიფიკატით ავთენტიკაციის შეცდომა მომხმარებლისთვის "%s": კლიენტის სერტიფიკატი მომხმარებლის სახელს არ შეიცავს',  # ka
        '"%s" 사용자에 대한 인증서 로그인 실패: 클라이언트 인증서에 사용자 이름이 없음',  # ko
        'ошибка проверки подлинности пользователя "%s" по сертификату: сертификат клиента не содержит имя пользователя',  # ru
        'certifikatautentisering misslyckades för användare "%s": klientcertifikatet innehåller inget användarnamn',  # sv
        'помилка автентифікації сертифіката для користувача "%s": сертифікат клієнта не містить імені користувача',  # uk
        '用户 "%s" 的证书认证失败: 客户端证书不包含用户名',  # zh_CN
        '使用者 "%s" 憑證驗證失敗: 客戶端憑證未包含使用者名稱',  # zh_TW
    ),
    # 28000
    'certificate authentication failed for user "%s": unable to retrieve subject DN': (
        "Zertifikatauthentifizierung für Benutzer »%s« fehlgeschlagen: konnte Subject-DN nicht abfragen",  # de
        "la autentificación por certificado falló para el usuario «%s»: no se pudo obtener el DN del sujeto",  # es
        "authentification par certificat échouée pour l'utilisateur « %s » : incapable de récupérer le DN sujet",  # fr
        'autenticazione del certificato non riuscita per l\'utente "%s": impossibile recuperare il DN soggetto',  # it
        'ユーザー"%s"の証明書認証に失敗しました: サブジェクト識別名(DN)が取得できません',  # ja
        'სერტიფიკატით ავთენტიკაცია ჩავარდა მომხმარებლისთვის "%s": სათაურის DN-ის მიღება შეუძლებელა',  # ka
        '사용자 "%s"의 인증서 인증을 실패했습니다: DN 주체가 없음',  # ko
        'пользователь "%s" не прошёл проверку подлинности по сертификату: не удалось получить DN субъекта',  # ru
        'certifikat-autentisering misslyckades för användare "%s": kan inte hämta subject DN',  # sv
        'помилка автентифікації сертифікату для користувача "%s": не вдалося отримати DN суб\'єкта',  # uk
        '用户 "%s" 的证书认证失败: 无法获取主体 DN',  # zh_CN
        '使用者 "%s" 的憑證驗證失敗: 無法擷取主體 DN',  # zh_TW
    ),
}

#: libpq's own words for a password the server asked for and the URL did not give: never
#: translated (`PQnoPasswordSupplied` in libpq-fe.h).
_NO_PASSWORD = "fe_sendauth: no password supplied"


def _pattern(message: str) -> str:
    """A message's regular expression: each `%s` any text, each run of spaces any spacing
    (the French catalog breaks two of its lines), and a last `, %s` left out (what follows the
    database in the pg_hba.conf messages is worded differently across releases)."""
    message = message.removesuffix(", %s")
    parts = (re.escape(part).replace("%s", ".*?") for part in message.split())
    return r"\s+".join(parts)


@functools.cache
def _said() -> re.Pattern[str]:
    """All the messages as one expression, compiled when a connection first fails (~0.1 s:
    too long to spend on every start of the command line)."""
    messages = [message for english, ours in _WORDS.items() for message in (english, *ours)]
    return re.compile("|".join([re.escape(_NO_PASSWORD), *map(_pattern, messages)]))


def postgres_refused(original: BaseException) -> bool:
    """True when psycopg's error is the server refusing the connection (see the module)."""
    state = getattr(original, "sqlstate", None)
    if state is None:  # a connection that failed: its text is all there is
        return _said().search(str(original)) is not None
    if state == _INSUFFICIENT_PRIVILEGE:
        return getattr(original, "pgresult", None) is None
    return state in _REFUSAL_STATES
